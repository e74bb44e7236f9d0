package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/moatproxy/moat/cache/faulttier"
)

// A tier that fails never turns into a wrong or failed answer: a failed
// lookup is a miss, a failed store stores nothing, a purge still answers,
// and every failure is counted. (A purge whose delete fails on a tier that
// comes back is the two-level cache's business: L1 cannot fail, and
// deletes in a remote L2 are retried; issue #11.)
func TestFailingTierDegradesToTheOrigin(t *testing.T) {
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n.Add(1))
	})
	var ft *faulttier.Tier
	s := newGateway(t, o, nil, func(o *Options) {
		ft = faulttier.New(o.Tier)
		o.Tier = ft
	})
	s.do(t, "GET", "/a")
	wantXCache(t, s.do(t, "GET", "/a"), "HIT")

	for _, tc := range []struct {
		name  string
		fault faulttier.Fault
	}{
		{"errors", faulttier.Fault{Err: faulttier.ErrInjected}},
		{"dropped_writes", faulttier.Fault{Drop: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ft.Inject(tc.fault)
			defer ft.Heal()
			before := o.total.Load()
			for range 3 {
				r := s.do(t, "GET", "/b-"+tc.name)
				if r.status != http.StatusOK || r.xcache() != "MISS" {
					t.Fatalf("got %d %s (%s), want the origin's 200 as a MISS", r.status, r.xcache(), r.header.Get("Cache-Status"))
				}
				// A small body is read before the answer starts, so
				// Cache-Status says what the store did, not what it
				// expected to do.
				if cs := r.header.Get("Cache-Status"); tc.fault.Err != nil && strings.Contains(cs, "stored") {
					t.Errorf("Cache-Status %q with every store failing, want no \"stored\"", cs)
				}
			}
			if got := o.total.Load() - before; got != 3 {
				t.Errorf("origin requests = %d, want 3 (nothing stored)", got)
			}
			if _, err := s.gw.Purge(context.Background(), Purge{Tags: []string{"x"}, URLs: []string{s.front.URL + "/a"}}); err != nil {
				t.Errorf("purge with the tier failing: %v", err)
			}
		})
	}
	if s.gw.Stats().TierErrors.Load() == 0 {
		t.Errorf("no tier error counted")
	}
}
