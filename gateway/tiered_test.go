package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// tier is edge moats in front of a shield moat in front of an origin, all
// on loopback: the shield is the edges' origin.
type tier struct {
	origin *origin
	shield *setup
	edges  []*setup
	gate   chan struct{} // while open (nil), the origin answers at once
	mu     sync.Mutex
}

func newTier(t *testing.T, edges int) *tier {
	tr := &tier{}
	var gate atomic.Pointer[chan struct{}]
	tr.origin = newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if g := gate.Load(); g != nil && strings.HasPrefix(r.URL.Path, "/hot") {
			<-*g
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Surrogate-Key", "item")
		fmt.Fprint(w, "body of "+r.URL.Path)
	})
	tr.gate = make(chan struct{})
	gate.Store(&tr.gate)
	pols := []policy.Policy{{Pattern: "GET /{p...}"}}
	tr.shield = newGateway(t, tr.origin, pols, func(o *Options) {
		o.CacheName = "shield"
		o.TagsDownstream = true // the edges learn the tags too
	})
	for i := range edges {
		name := "edge-" + strconv.Itoa(i)
		shieldAsOrigin := &origin{Server: tr.shield.front, counts: map[string]int{}}
		tr.edges = append(tr.edges, newGateway(t, shieldAsOrigin, pols, func(o *Options) { o.CacheName = name }))
	}
	return tr
}

func TestTieredMoats(t *testing.T) {
	tr := newTier(t, 2)
	close(tr.gate) // /hot is for the stampede below
	a, b := tr.edges[0], tr.edges[1]

	// The chain: the shield's member first, each edge's after it.
	first := a.do(t, "GET", "/item")
	if got := first.header.Get("Cache-Status"); !strings.HasPrefix(got, "shield; fwd=uri-miss; fwd-status=200; ttl=300; stored, edge-0; fwd=uri-miss; fwd-status=200; ttl=300; stored") {
		t.Errorf("first Cache-Status %q", got)
	}
	tr.shield.clock.Advance(20 * time.Second)
	second := b.do(t, "GET", "/item")
	if got := second.header.Get("Cache-Status"); !strings.HasPrefix(got, "shield; hit; ttl=280, edge-1; fwd=uri-miss; fwd-status=200; ttl=280; stored") {
		t.Errorf("second Cache-Status %q: want the shield's hit, then edge-1's miss with the shield's Age counted", got)
	}
	b.clock.Advance(5 * time.Second)
	third := b.do(t, "GET", "/item")
	if got := third.header.Get("Cache-Status"); got != "shield; hit; ttl=280, edge-1; hit; ttl=275" {
		t.Errorf("edge hit Cache-Status %q", got)
	}
	if age, _ := strconv.Atoi(third.header.Get("Age")); age != 25 {
		t.Errorf("edge hit Age %d, want 25 (20 at the shield, 5 at the edge)", age)
	}
	if n := tr.origin.count("GET /item"); n != 1 {
		t.Errorf("origin requests %d, want 1", n)
	}

	// A stampede across both edges is one origin request.
	tr2 := newTier(t, 2)
	var wg sync.WaitGroup
	var bad atomic.Int64
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := tr2.edges[i%2].do(t, "GET", "/hot"); r.status != 200 || r.body != "body of /hot" {
				bad.Add(1)
			}
		}()
	}
	waitFor(t, "the origin request", func() bool { return tr2.origin.count("GET /hot") == 1 })
	waitFor(t, "both edges' fills at the shield", func() bool {
		return tr2.shield.gw.Stats().Collapsed.Load()+tr2.shield.gw.Stats().Leaders.Load() >= 2
	})
	close(tr2.gate)
	wg.Wait()
	if bad.Load() != 0 || tr2.origin.count("GET /hot") != 1 {
		t.Errorf("20 requests over 2 edges: %d failed, %d origin requests; want 0 and 1", bad.Load(), tr2.origin.count("GET /hot"))
	}
}

// A purge at the shield goes down to the edges (each a purge target of the
// shield, and the shield one of theirs) and stops there.
func TestTieredPurgeDown(t *testing.T) {
	tr := newTier(t, 2)
	close(tr.gate)
	var forwarded atomic.Int64
	send := func(to ...*setup) func(Purge) {
		return func(p Purge) {
			for _, s := range to {
				forwarded.Add(1)
				p.Origin = "moat"
				s.gw.Purge(context.Background(), p)
			}
		}
	}
	tr.shield.gw.onPurge = send(tr.edges...)
	for _, e := range tr.edges {
		e.gw.onPurge = send(tr.shield)
	}
	for _, e := range tr.edges {
		e.do(t, "GET", "/item")
		if r := e.do(t, "GET", "/item"); r.xcache() != "HIT" {
			t.Fatalf("edge: %s", r.xcache())
		}
	}
	res, err := tr.shield.gw.Purge(context.Background(), Purge{Tags: []string{"item"}})
	if err != nil || res.Affected != 1 {
		t.Fatalf("purge at the shield: %+v %v", res, err)
	}
	for i, e := range tr.edges {
		if r := e.do(t, "GET", "/item"); r.xcache() == "HIT" {
			t.Errorf("edge %d still hits after the shield's purge", i)
		}
	}
	if n := forwarded.Load(); n != 4 {
		t.Errorf("deliveries %d, want 4 (shield to 2 edges, each back once, which stops it)", n)
	}
}
