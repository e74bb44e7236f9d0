package gateway

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// TestFleetAgreesOnVersions: after a route purge, every node keys the
// route under the same new version: the node that purged, a node that
// heard of it on the Bus, and a node started later (which reads the
// shared store). Each node's fill is then the others' L2 hit.
func TestFleetAgreesOnVersions(t *testing.T) {
	o := taggedOrigin(t)
	fl := newFleet(t, o, []policy.Policy{{Pattern: "GET /r/{id}"}}, nil)
	a, b := fl.start(), fl.start()
	fl.clock.Advance(time.Second)
	res, err := a.gw.Purge(context.Background(), Purge{Routes: []string{"GET /r/{id}"}, All: true})
	if err != nil {
		t.Fatal(err)
	}
	v := res.Versions["GET /r/{id}"]
	if v == 0 {
		t.Fatalf("route purge returned no version: %+v", res)
	}
	fl.clock.Advance(time.Second)

	w := a.gw.l2.Written.Load()
	first := a.do(t, "GET", "/r/1")
	a.written(t, w+1)
	if r := b.do(t, "GET", "/r/1"); r.body != first.body || o.count("GET /r/1") != 1 {
		t.Fatalf("B after A's fill: %q (%s), origin asked %d times: B keys under another version",
			r.body, r.header.Get("Cache-Status"), o.count("GET /r/1"))
	}

	c := fl.start() // a node that starts after the purge
	fl.clock.Advance(time.Second)
	w = c.gw.l2.Written.Load()
	second := c.do(t, "GET", "/r/2")
	c.written(t, w+1)
	if r := a.do(t, "GET", "/r/2"); r.body != second.body || o.count("GET /r/2") != 1 {
		t.Fatalf("A after C's fill: %q (%s), origin asked %d times: C keys under another version",
			r.body, r.header.Get("Cache-Status"), o.count("GET /r/2"))
	}
	for _, n := range []*node{a, b, c} {
		if got := n.gw.ns.byName["GET /r/{id}"].Load(); got != v {
			t.Errorf("a node holds version %d of the route, want %d", got, v)
		}
		if n.gw.ns.all.Load() == 0 {
			t.Error("a node did not adopt the all version")
		}
	}
}

// TestVersionsStoreDown: a purge whose shared store fails still takes
// effect on this node (with a version of its own) and says so.
func TestVersionsStoreDown(t *testing.T) {
	o := taggedOrigin(t)
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /r/{id}"}}, func(opt *Options) { opt.Versions = failingVersions{} })
	wantXCache(t, s.do(t, "GET", "/r/1"), "MISS")
	wantXCache(t, s.do(t, "GET", "/r/1"), "HIT")
	if _, err := s.gw.Purge(context.Background(), Purge{Routes: []string{"GET /r/{id}"}}); !errors.Is(err, ErrPurgeNotShared) {
		t.Errorf("purge with the versions store down: %v, want ErrPurgeNotShared", err)
	}
	if r := s.do(t, "GET", "/r/1"); r.xcache() != "MISS" {
		t.Errorf("after the route purge: %s, want MISS", r.xcache())
	}
}

type failingVersions struct{}

func (failingVersions) Load(context.Context) (map[string]uint64, error) {
	return nil, context.DeadlineExceeded
}
func (failingVersions) Raise(context.Context, map[string]uint64) (map[string]uint64, error) {
	return nil, context.DeadlineExceeded
}

// TestVersionsOnlyGrow: nodes that hear of two route purges in either
// order end on the same version, the greater (a purge's version is picked
// above the node's own, so every purge changes the keys).
func TestVersionsOnlyGrow(t *testing.T) {
	o := taggedOrigin(t)
	fl := newSharedFleet(t, o, []policy.Policy{{Pattern: "GET /r/{id}"}}, nil)
	a, b := fl.start(), fl.start()
	const route = "GET /r/{id}"
	low, high := Purge{Routes: []string{route}, Versions: map[string]uint64{route: 1000}},
		Purge{Routes: []string{route}, Versions: map[string]uint64{route: 2000}}
	a.gw.fromBus(low)
	a.gw.fromBus(high)
	b.gw.fromBus(high)
	b.gw.fromBus(low)
	for name, n := range map[string]*node{"A": a, "B": b} {
		if got := n.gw.ns.byName[route].Load(); got != 2000 {
			t.Errorf("%s keys the route under %d, want 2000", name, got)
		}
	}
	if v := NewVersion(1 << 50); v <= 1<<50 {
		t.Errorf("NewVersion(2^50) = %d, not above it", v)
	}
	res, err := a.gw.Purge(context.Background(), Purge{Routes: []string{route}})
	if err != nil || res.Versions[route] <= 2000 {
		t.Errorf("a route purge after version 2000: %+v %v, want a greater version", res, err)
	}
}
