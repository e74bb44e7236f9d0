package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// TestSharedL2ServesNewNodes: with an L2 that applies purges itself, a node
// started after a fill is served from L2 (it need not refuse what it did
// not see stored), and every purge kind made through a node that never
// held the entry removes it from L2 (the node that stored it is gone, so
// no node's tag index knows it), so that a node started after the purge
// does not serve the old body.
func TestSharedL2ServesNewNodes(t *testing.T) {
	o := taggedOrigin(t)
	fl := newSharedFleet(t, o, []policy.Policy{{Pattern: "GET /r/{id}"}, {Pattern: "GET /p/{path...}"}}, nil)
	a := fl.start()
	fill := func(n *node, path string) string {
		t.Helper()
		w := n.gw.l2.Written.Load()
		r := n.do(t, "GET", path)
		n.written(t, w+1)
		return r.body
	}
	first := fill(a, "/r/1")
	fl.clock.Advance(time.Second)
	b := fl.start() // after the fill
	if r := b.do(t, "GET", "/r/1"); r.body != first || o.count("GET /r/1") != 1 {
		t.Fatalf("a node started after the fill: %q (%s), origin asked %d times, want an L2 hit",
			r.body, r.header.Get("Cache-Status"), o.count("GET /r/1"))
	}

	purges := []struct {
		name, path string
		p          Purge
	}{
		{"tag", "/r/2", Purge{Tags: []string{"item:/r/2"}}},
		{"url", "/r/3", Purge{URLs: []string{"http://api.example/r/3"}}},
		{"prefix", "/p/x/y", Purge{Prefixes: []string{"/p/x/"}}},
		{"route", "/r/4", Purge{Routes: []string{"GET /r/{id}"}}},
		{"all", "/p/z", Purge{All: true}},
	}
	for _, tc := range purges {
		t.Run(tc.name, func(t *testing.T) {
			f := fl.start()
			old := fill(f, tc.path) // in L2 only, once f is gone
			fl.stop(f)
			fl.clock.Advance(time.Second)
			if _, err := b.gw.Purge(context.Background(), tc.p); err != nil {
				t.Fatal(err)
			}
			fl.clock.Advance(time.Second)
			late := fl.start() // never heard of the purge on the Bus
			if r := late.do(t, "GET", tc.path); r.body == old {
				t.Errorf("a node started after the purge served the purged body %q (%s)", r.body, r.header.Get("Cache-Status"))
			}
			fl.stop(late)
		})
	}
	if st, _ := b.gw.L2Stats(); st.PurgeErrors != 0 {
		t.Errorf("L2 purge errors: %d", st.PurgeErrors)
	}
}

// TestSharedL2PurgeFailureIsReported: a purge that L2 could not apply is
// still applied on the node, and the API caller is told to retry.
func TestSharedL2PurgeFailureIsReported(t *testing.T) {
	o := taggedOrigin(t)
	fl := newSharedFleet(t, o, nil, nil)
	fl.l2 = failingInvalidator{fl.l2.(remoteInvalidator)}
	a := fl.start()
	w := a.gw.l2.Written.Load()
	a.do(t, "GET", "/x")
	a.written(t, w+1)
	_, err := a.gw.Purge(context.Background(), Purge{Tags: []string{"item:/x"}})
	if !errors.Is(err, ErrPurgeNotShared) {
		t.Errorf("purge with L2 failing: %v, want ErrPurgeNotShared", err)
	}
	if r := a.do(t, "GET", "/x"); r.xcache() == "HIT" {
		t.Errorf("after the purge: %s, want a miss on this node", r.xcache())
	}
	if st, _ := a.gw.L2Stats(); st.PurgeErrors != 1 {
		t.Errorf("L2 purge errors: %d, want 1", st.PurgeErrors)
	}
}

type failingInvalidator struct{ remoteInvalidator }

func (failingInvalidator) Invalidate(context.Context, cache.Invalidation) (int, error) {
	return 0, errors.New("injected")
}

// gatedBus delivers purges only once open is closed (a node cut off from
// the bus for a while).
type gatedBus struct {
	LocalBus
	open chan struct{}
}

func (b *gatedBus) Join(deliver func(Purge), lost func()) (func(Purge), func()) {
	return b.LocalBus.Join(func(p Purge) {
		go func() { <-b.open; deliver(p) }()
	}, lost)
}

// TestPurgeRacingSlowFillAcrossNodes: node A's fill started before a purge
// made on node B, and A hears of the purge only after its fill stored.
// L2 refuses A's write (the purge fenced it), so a node started later does
// not get the old body from L2; nor does A once the purge reaches it.
func TestPurgeRacingSlowFillAcrossNodes(t *testing.T) {
	slow := make(chan struct{})
	var v atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		n := v.Add(1)
		if n == 1 {
			<-slow
		}
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "item")
		fmt.Fprintf(w, "v%d", n)
	})
	fl := newSharedFleet(t, o, nil, nil)
	bus := &gatedBus{open: make(chan struct{})}
	fl.bus = bus
	a, b := fl.start(), fl.start()

	w := a.gw.l2.Written.Load()
	first := make(chan string, 1)
	go func() { first <- a.do(t, "GET", "/k").body }()
	waitFor(t, "A's origin request", func() bool { return o.total.Load() == 1 })
	fl.clock.Advance(time.Second)
	if _, err := b.gw.Purge(context.Background(), Purge{Tags: []string{"item"}}); err != nil {
		t.Fatal(err)
	}
	close(slow)
	old := <-first
	a.written(t, w+1) // A's write reached L2, which did not keep it
	fl.clock.Advance(time.Second)

	late := fl.start()
	if r := late.do(t, "GET", "/k"); r.body == old {
		t.Errorf("a node started after the purge served %q, the fill the purge overtook (%s)", r.body, r.header.Get("Cache-Status"))
	}
	close(bus.open)
	waitFor(t, "the purge to reach A", func() bool { return a.gw.stats.PurgesByKind[PurgeRemote].Load() >= 1 })
	if r := a.do(t, "GET", "/k"); r.body == old {
		t.Errorf("A served %q after the purge reached it (%s)", r.body, r.header.Get("Cache-Status"))
	}
}
