package gateway

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// TestRestartWithOwnVersionsKeepsRoutePurges: an application that gives
// the gateway a shared L2 that applies purges (Redis) but no Options.Versions
// keeps route versions in memory. A route purge makes the route's entries
// unreachable by changing its version; after a restart the node is back at
// the old version, and the entries the purge made unreachable are there in
// L2 under it. The node must not serve them: it vouches only for entries
// stored since it started.
func TestRestartWithOwnVersionsKeepsRoutePurges(t *testing.T) {
	o := taggedOrigin(t)
	fl := newSharedFleet(t, o, []policy.Policy{{Pattern: "GET /r/{id}"}}, nil)
	fl.ownVersions = true
	a := fl.start()
	w := a.gw.l2.Written.Load()
	before := a.do(t, "GET", "/r/1")
	a.written(t, w+1)
	fl.clock.Advance(time.Second)
	if _, err := a.gw.Purge(context.Background(), Purge{Routes: []string{"GET /r/{id}"}}); err != nil {
		t.Fatal(err)
	}
	if r := a.do(t, "GET", "/r/1"); r.body == before.body {
		t.Fatalf("the node that purged the route served %q again", r.body)
	}
	fl.stop(a)
	fl.clock.Advance(time.Second)
	a2 := fl.start() // the same node, restarted: its versions are gone
	if r := a2.do(t, "GET", "/r/1"); r.body == before.body {
		t.Errorf("after a restart: served the route-purged entry %q (%s)", r.body, r.header.Get("Cache-Status"))
	}
	// What is stored from now on is shared as before, with the nodes
	// that were up when it was stored.
	b := fl.start()
	fl.clock.Advance(time.Second)
	w = a2.gw.l2.Written.Load()
	fresh := a2.do(t, "GET", "/r/2")
	a2.written(t, w+1)
	if r := b.do(t, "GET", "/r/2"); r.body != fresh.body {
		t.Errorf("another node: %q (%s), want the entry stored after it started, %q", r.body, r.xcache(), fresh.body)
	}
}

// TestNewRefusesATierThatCannotList: a prefix purge finds L1's entries by
// listing them (L1 hits are not checked against purges). An L1 without
// Range used to be accepted, and a prefix purge then removed nothing from
// it and reported no error: the purged entries were served until their TTL.
func TestNewRefusesATierThatCannotList(t *testing.T) {
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	u, _ := url.Parse("http://origin.example")
	_, err = New(Options{Origin: u, Tier: getSetDelete{mem}})
	if !errors.Is(err, ErrTierCannotList) {
		t.Fatalf("New with an L1 that cannot list: %v, want ErrTierCannotList", err)
	}
	h, err := New(Options{Origin: u, Tier: mem})
	if err != nil {
		t.Fatalf("New with a cache.Memory: %v", err)
	}
	h.Close()
}

// getSetDelete is a tier with the cache.Tier methods only.
type getSetDelete struct{ cache.Tier }
