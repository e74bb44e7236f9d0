package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"
)

// A purge's ID is remembered before the purge is validated: a delivery
// refused as invalid (a bad URL, a route this node lacks) marks the ID
// seen, so the corrected purge under the same ID (a retry by the fan-out
// of another moat, or an operator's) is skipped as a duplicate.
func TestReview5RefusedPurgeBurnsItsID(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, nil, nil)
	if _, err := s.gw.Purge(context.Background(), Purge{ID: "id-1", URLs: []string{"/relative"}}); err == nil {
		t.Fatal("relative URL accepted")
	}
	res, err := s.gw.Purge(context.Background(), Purge{ID: "id-1", URLs: []string{"http://moat.test/p"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicate {
		t.Errorf("a valid purge skipped as a duplicate of one that was refused and never applied")
	}
}
