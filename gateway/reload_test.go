package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// reloadWith returns the handler of s's options with routes pols.
func reloadWith(t *testing.T, s *setup, o *origin, h *Handler, pols []policy.Policy, mod func(*Options)) *Handler {
	t.Helper()
	tbl, err := policy.New(pols)
	if err != nil {
		t.Fatal(err)
	}
	u := h.origin
	opts := Options{Origin: u, Policies: tbl, OriginTimeout: 2 * time.Second, HeuristicMax: 24 * time.Hour}
	if mod != nil {
		mod(&opts)
	}
	n, err := h.Reload(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func TestReloadKeepsUnchangedRoutes(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Path)
	})
	pols := []policy.Policy{
		{Pattern: "GET /keep/{id}", TTL: time.Minute, OverrideOrigin: true},
		{Pattern: "GET /change/{id}", TTL: time.Minute, OverrideOrigin: true},
	}
	s := newGateway(t, o, pols, nil)
	for _, p := range []string{"/keep/1", "/change/1"} {
		if x := serveDirect(s.gw, "GET", p).Header().Get("X-Cache"); x != "MISS" {
			t.Fatalf("%s: %s", p, x)
		}
	}
	changed := []policy.Policy{
		{Pattern: "GET /keep/{id}", TTL: time.Minute, OverrideOrigin: true, MaxOriginConcurrency: 4}, // not what entries depend on
		{Pattern: "GET /change/{id}", TTL: 5 * time.Second, OverrideOrigin: true},
		{Pattern: "GET /new/{id}", TTL: time.Minute, OverrideOrigin: true},
	}
	n := reloadWith(t, s, o, s.gw, changed, nil)
	if x := serveDirect(n, "GET", "/keep/1").Header().Get("X-Cache"); x != "HIT" {
		t.Errorf("unchanged route after reload: %s, want HIT", x)
	}
	if x := serveDirect(n, "GET", "/change/1").Header().Get("X-Cache"); x != "MISS" {
		t.Errorf("route whose ttl changed: %s, want MISS", x)
	}
	if got := o.count("GET /change/1"); got != 2 {
		t.Errorf("origin requests for the changed route = %d, want 2", got)
	}
	// The new ttl applies: 5s, not a minute.
	s.clock.Advance(6 * time.Second)
	if x := serveDirect(n, "GET", "/change/1").Header().Get("X-Cache"); x != "MISS" {
		t.Errorf("changed route after its new ttl: %s, want MISS", x)
	}
	if x := serveDirect(n, "GET", "/keep/1").Header().Get("X-Cache"); x != "HIT" {
		t.Errorf("unchanged route: %s, want HIT", x)
	}
	// Counters go on from where the first handler left them.
	if st := n.Stats().Stored.Load(); st != 4 {
		t.Errorf("stored = %d, want 4 (2 before the reload, 2 after)", st)
	}
	// The old handler still answers what it has (its in-flight requests).
	if x := serveDirect(s.gw, "GET", "/keep/1").Header().Get("X-Cache"); x != "HIT" {
		t.Errorf("old handler: %s", x)
	}
	// Closing the old handler leaves the cache to the new one.
	if err := s.gw.Close(); err != nil {
		t.Fatal(err)
	}
	if x := serveDirect(n, "GET", "/keep/1").Header().Get("X-Cache"); x != "HIT" {
		t.Errorf("after the old handler closed: %s, want HIT", x)
	}
}

// A fill that began on the old configuration's handler is not stored
// after a purge made through the new one (the generations are shared), and
// a route purge reaches the old handler's keys.
func TestReloadPurgeReachesOldHandler(t *testing.T) {
	release := make(chan struct{})
	var slow atomic.Bool
	started := make(chan struct{}, 1)
	var version atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		v := version.Load()
		if slow.Load() && r.URL.Path == "/r/slow" {
			started <- struct{}{}
			<-release
		}
		w.Header().Set("Surrogate-Key", "t")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, v)
	})
	pols := []policy.Policy{{Pattern: "GET /r/{id}", TTL: time.Minute, OverrideOrigin: true}}
	s := newGateway(t, o, pols, nil)
	serveDirect(s.gw, "GET", "/r/1")

	slow.Store(true)
	done := make(chan string)
	go func() { done <- serveDirect(s.gw, "GET", "/r/slow").Body.String() }()
	<-started
	n := reloadWith(t, s, o, s.gw, pols, nil)
	version.Store(1)
	if _, err := n.Purge(context.Background(), Purge{Tags: []string{"t"}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	if b := <-done; b != "/r/slow v0" {
		t.Fatalf("old handler's answer: %q", b)
	}
	slow.Store(false)
	if rec := serveDirect(n, "GET", "/r/slow"); rec.Header().Get("X-Cache") != "MISS" || rec.Body.String() != "/r/slow v1" {
		t.Errorf("after a purge through the new handler, the old handler's fill was kept: %s %q", rec.Header().Get("X-Cache"), rec.Body.String())
	}
	// A route purge through the new handler reaches the old one's keys.
	serveDirect(s.gw, "GET", "/r/1")
	if x := serveDirect(s.gw, "GET", "/r/1").Header().Get("X-Cache"); x != "HIT" {
		t.Fatalf("old handler: %s", x)
	}
	if _, err := n.Purge(context.Background(), Purge{Routes: []string{"GET /r/{id}"}}); err != nil {
		t.Fatal(err)
	}
	if x := serveDirect(s.gw, "GET", "/r/1").Header().Get("X-Cache"); x != "MISS" {
		t.Errorf("old handler after a route purge through the new one: %s, want MISS", x)
	}
	if x := serveDirect(n, "GET", "/r/1").Header().Get("X-Cache"); x != "HIT" {
		t.Errorf("new handler, same policy, after the old one refilled: %s, want HIT", x)
	}
}

// Purges from the Bus go through the newest handler once the first one,
// which joined the Bus, has closed.
func TestReloadBusAfterFirstHandlerCloses(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) })
	pols := []policy.Policy{{Pattern: "GET /r/{id}", TTL: time.Minute, OverrideOrigin: true, Tags: []string{"r:{id}"}}}
	bus := NewLocalBus(nil)
	a := newGateway(t, o, pols, func(o *Options) { o.Bus = bus })
	b := newGateway(t, o, pols, func(o *Options) { o.Bus = bus })
	n := reloadWith(t, a, o, a.gw, []policy.Policy{{Pattern: "GET /r/{id}", TTL: time.Minute, OverrideOrigin: true, Tags: []string{"r:{id}"}}, {Pattern: "GET /other", TTL: time.Minute}}, nil)
	if err := a.gw.Close(); err != nil {
		t.Fatal(err)
	}
	serveDirect(n, "GET", "/r/1")
	if x := serveDirect(n, "GET", "/r/1").Header().Get("X-Cache"); x != "HIT" {
		t.Fatalf("%s", x)
	}
	if _, err := b.gw.Purge(context.Background(), Purge{Tags: []string{"r:1"}}); err != nil {
		t.Fatal(err)
	}
	if x := serveDirect(n, "GET", "/r/1").Header().Get("X-Cache"); x != "MISS" {
		t.Errorf("a purge from another node after the reload: %s, want MISS", x)
	}
	if _, err := b.gw.Purge(context.Background(), Purge{Routes: []string{"GET /r/{id}"}}); err != nil {
		t.Fatal(err)
	}
	if x := serveDirect(n, "GET", "/r/1").Header().Get("X-Cache"); x != "MISS" {
		t.Errorf("a route purge from another node after the reload: %s, want MISS", x)
	}
}

func TestReloadOfClosedCache(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newGateway(t, o, nil, nil)
	s.gw.Close()
	if _, err := s.gw.Reload(Options{Origin: s.gw.origin}); err == nil {
		t.Fatal("Reload of a closed handler succeeded")
	}
}
