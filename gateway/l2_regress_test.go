package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/faulttier"
	"github.com/moatproxy/moat/policy"
)

// One node restarts; route versions diverge; a later route purge is missed on L2.
func TestL2ReviewRouteVersionsDiverge(t *testing.T) {
	o := taggedOrigin(t)
	fl := newFleet(t, o, []policy.Policy{{Pattern: "GET /r/{id}"}}, nil)
	a, b := fl.start(), fl.start()
	fl.clock.Advance(time.Second)
	if _, err := a.gw.Purge(context.Background(), Purge{Routes: []string{"GET /r/{id}"}}); err != nil {
		t.Fatal(err)
	}
	fl.clock.Advance(time.Second)
	fl.stop(b)
	fl.clock.Advance(time.Second)
	b2 := fl.start()
	fl.clock.Advance(time.Second)
	w := a.gw.l2.Written.Load()
	r0 := a.do(t, "GET", "/r/1") // A at v1
	a.written(t, w+1)
	fl.clock.Advance(time.Second)
	if _, err := a.gw.Purge(context.Background(), Purge{Routes: []string{"GET /r/{id}"}}); err != nil {
		t.Fatal(err)
	}
	fl.clock.Advance(time.Second)
	r := b2.do(t, "GET", "/r/1") // B2 now at v1
	t.Logf("before purge: %q; B2 after purge: %q %s", r0.body, r.body, r.xcache())
	if r.body == r0.body {
		t.Errorf("B2 served the route-purged entry %q (%s)", r.body, r.header.Get("Cache-Status"))
	}
}

// A hanging L2: how long does one miss take (L2Timeout 50ms)?
func TestL2ReviewHangingL2Cost(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, "x")
	})
	var ft *faulttier.Tier
	fl := newFleet(t, o, nil, func(l2 cache.Tier) cache.Tier { ft = faulttier.New(l2); return ft })
	a := fl.start()
	a.do(t, "GET", "/v") // marker + variant in L1
	// Only lookups hang: the writes the fills queue run on their own
	// goroutine and would be counted at any time.
	ft.Inject(faulttier.Fault{Hang: true}, faulttier.OpGet)
	before := ft.Counts().Faulted[faulttier.OpGet]
	a.do(t, "GET", "/w")
	// One L2 call per miss, so at most one deadline: the leader's re-check
	// and the waiters' look at L1 only.
	if got := ft.Counts().Faulted[faulttier.OpGet] - before; got != 1 {
		t.Errorf("a miss with L2 hanging made %d L2 lookups that timed out, want 1", got)
	}
}

var _ atomic.Int64
