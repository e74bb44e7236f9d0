package gateway

import (
	"context"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/moatproxy/moat/policy"
)

// TestReviewRemotePurgeNamingAnUnknownRouteIsDroppedWhole: during a rolling
// deploy that adds a route, a purge made through a new node that names the
// new route (with tags, or with URLs) reaches the old nodes on the Bus,
// where purge rejects it whole (ErrBadPurge: no route ...) before stamping
// anything. fromBus only logs it: the old node keeps serving what the
// purge's tags named, and lost is never called. (namespaces.adopt ignores
// unknown names for exactly this case, but purge never gets that far.)
func TestReviewRemotePurgeNamingAnUnknownRouteIsDroppedWhole(t *testing.T) {
	o := taggedOrigin(t)
	u, _ := url.Parse(o.URL)
	bus := new(LocalBus)
	start := func(pols ...policy.Policy) *httptest.Server {
		tbl, err := policy.New(pols)
		if err != nil {
			t.Fatal(err)
		}
		gw, err := New(Options{Origin: u, Policies: tbl, Bus: bus})
		if err != nil {
			t.Fatal(err)
		}
		front := httptest.NewServer(gw)
		t.Cleanup(func() { front.Close(); gw.Close() })
		return front
	}
	oldFront := start(policy.Policy{Pattern: "GET /r/{id}"})
	newTbl, _ := policy.New([]policy.Policy{{Pattern: "GET /r/{id}"}, {Pattern: "GET /new/{id}"}})
	newGW, err := New(Options{Origin: u, Policies: newTbl, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { newGW.Close() })

	old := &node{front: oldFront}
	old.do(t, "GET", "/r/1")
	wantXCache(t, old.do(t, "GET", "/r/1"), "HIT")
	if _, err := newGW.Purge(context.Background(), Purge{Tags: []string{"item:/r/1"}, Routes: []string{"GET /new/{id}"}}); err != nil {
		t.Fatal(err)
	}
	if r := old.do(t, "GET", "/r/1"); r.xcache() == "HIT" {
		t.Errorf("the old node still serves %q from memory after a purge of its tag made on a newer node: "+
			"the purge was dropped whole for naming a route it does not know", r.body)
	}
}
