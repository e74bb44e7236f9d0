package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// catalogOrigin serves products whose body carries a version that writes
// bump, and tags its answers the way a real API would.
type catalogOrigin struct {
	mu       sync.Mutex
	versions map[string]int
}

func (c *catalogOrigin) handler(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case r.Method == "PUT":
		c.versions[r.URL.Path]++
		c.versions["/api/products"]++
		w.WriteHeader(204)
	case r.URL.Path == "/api/products":
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprintf(w, "list v%d", c.versions[r.URL.Path])
	default:
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Surrogate-Key", "catalog")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, c.versions[r.URL.Path])
	}
}

func catalogPolicies() []policy.Policy {
	return []policy.Policy{
		{Pattern: "GET /api/products/{id}", Tags: []string{"product:{id}"}, StaleWhileRevalidate: time.Minute},
		{Pattern: "GET /api/products", Tags: []string{"products"}},
		{Pattern: "PUT /api/products/{id}", Invalidate: []string{"product:{id}", "products"}},
	}
}

func TestWritePathInvalidation(t *testing.T) {
	c := &catalogOrigin{versions: map[string]int{}}
	o := newOrigin(t, c.handler)
	s := newGateway(t, o, catalogPolicies(), nil)
	for _, p := range []string{"/api/products/42", "/api/products/7", "/api/products"} {
		s.do(t, "GET", p)
		wantXCache(t, s.do(t, "GET", p), "HIT")
	}
	if r := s.do(t, "PUT", "/api/products/42"); r.status != 204 {
		t.Fatalf("PUT: %d", r.status)
	}
	for _, tt := range []struct{ path, want, body string }{
		{"/api/products/42", "MISS", "/api/products/42 v1"},
		{"/api/products", "MISS", "list v1"},
		{"/api/products/7", "HIT", "/api/products/7 v0"},
	} {
		r := s.do(t, "GET", tt.path)
		if r.xcache() != tt.want || r.body != tt.body {
			t.Errorf("GET %s after PUT: %s %q, want %s %q", tt.path, r.xcache(), r.body, tt.want, tt.body)
		}
	}
}

func TestPurgeAPI(t *testing.T) {
	c := &catalogOrigin{versions: map[string]int{}}
	o := newOrigin(t, c.handler)
	var fanned []Purge
	var mu sync.Mutex
	s := newGateway(t, o, catalogPolicies(), func(o *Options) {
		o.OnPurge = func(p Purge) { mu.Lock(); fanned = append(fanned, p); mu.Unlock() }
	})
	fill := func(paths ...string) {
		for _, p := range paths {
			s.do(t, "GET", p)
		}
	}
	ctx := context.Background()

	t.Run("tag", func(t *testing.T) {
		fill("/api/products/1", "/api/products/2", "/api/products")
		res, err := s.gw.Purge(ctx, Purge{Tags: []string{"catalog"}})
		if err != nil || res.Affected != 2 {
			t.Fatalf("purge catalog: %+v %v, want 2 affected", res, err)
		}
		wantXCache(t, s.do(t, "GET", "/api/products/1"), "MISS")
		wantXCache(t, s.do(t, "GET", "/api/products"), "HIT")
		if r := s.do(t, "GET", "/api/products/2"); r.header.Get("Surrogate-Key") != "" {
			t.Errorf("tag header leaked downstream: %q", r.header.Get("Surrogate-Key"))
		}
	})
	t.Run("url", func(t *testing.T) {
		fill("/api/products/3")
		res, err := s.gw.Purge(ctx, Purge{URLs: []string{s.front.URL + "/api/products/3"}})
		if err != nil || res.Affected != 1 {
			t.Fatalf("purge url: %+v %v", res, err)
		}
		wantXCache(t, s.do(t, "GET", "/api/products/3"), "MISS")
	})
	t.Run("prefix", func(t *testing.T) {
		fill("/api/products/4", "/api/products/5", "/api/products")
		if _, err := s.gw.Purge(ctx, Purge{Prefixes: []string{"/api/products/"}}); err != nil {
			t.Fatal(err)
		}
		wantXCache(t, s.do(t, "GET", "/api/products/4"), "MISS")
		wantXCache(t, s.do(t, "GET", "/api/products"), "HIT")
	})
	t.Run("route_version", func(t *testing.T) {
		fill("/api/products/6", "/api/products")
		res, err := s.gw.Purge(ctx, Purge{Routes: []string{"GET /api/products/{id}"}})
		if v := res.Versions["GET /api/products/{id}"]; err != nil || v == 0 || v >= 1<<53 {
			t.Fatalf("route purge: %+v %v, want a random version in [1, 2^53)", res, err)
		}
		wantXCache(t, s.do(t, "GET", "/api/products/6"), "MISS")
		wantXCache(t, s.do(t, "GET", "/api/products/6"), "HIT")
		wantXCache(t, s.do(t, "GET", "/api/products"), "HIT")
	})
	t.Run("soft_serves_stale_once_and_refreshes", func(t *testing.T) {
		fill("/api/products/8")
		if _, err := s.gw.Purge(ctx, Purge{Tags: []string{"product:8"}, Soft: true}); err != nil {
			t.Fatal(err)
		}
		before := o.count("GET /api/products/8")
		r := s.do(t, "GET", "/api/products/8")
		if r.xcache() != "STALE" {
			t.Fatalf("after soft purge: %s, want STALE", r.xcache())
		}
		waitFor(t, "the refresh", func() bool { return o.count("GET /api/products/8") == before+1 })
		waitFor(t, "a fresh hit", func() bool { return s.do(t, "GET", "/api/products/8").xcache() == "HIT" })
	})
	t.Run("all", func(t *testing.T) {
		fill("/api/products/9", "/api/products")
		res, err := s.gw.Purge(ctx, Purge{All: true})
		if err != nil || res.Affected == 0 {
			t.Fatalf("purge all: %+v %v", res, err)
		}
		wantXCache(t, s.do(t, "GET", "/api/products/9"), "MISS")
		wantXCache(t, s.do(t, "GET", "/api/products"), "MISS")
	})
	t.Run("bad_requests", func(t *testing.T) {
		for _, p := range []Purge{{}, {URLs: []string{"/relative"}}, {Prefixes: []string{"api"}}, {Routes: []string{"GET /nope"}}} {
			if _, err := s.gw.Purge(ctx, p); err == nil {
				t.Errorf("Purge(%+v) accepted", p)
			}
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if len(fanned) < 6 {
		t.Errorf("OnPurge saw %d purges, want every one", len(fanned))
	}
}

func TestOriginInvalidationHeader(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			w.Header().Set("X-Moat-Invalidate", "news, front")
			w.WriteHeader(201)
			return
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Cache-Tag", strings.TrimPrefix(r.URL.Path, "/"))
		fmt.Fprint(w, r.URL.Path)
	})
	s := newGateway(t, o, nil, nil)
	for _, p := range []string{"/news", "/front", "/sports"} {
		s.do(t, "GET", p)
	}
	r := s.do(t, "POST", "/api/articles")
	if r.header.Get("X-Moat-Invalidate") != "" {
		t.Error("X-Moat-Invalidate reached the client")
	}
	wantXCache(t, s.do(t, "GET", "/news"), "MISS")
	wantXCache(t, s.do(t, "GET", "/front"), "MISS")
	wantXCache(t, s.do(t, "GET", "/sports"), "HIT")
}

func TestDownstreamHeaders(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Surrogate-Key", "a b")
		fmt.Fprint(w, "x")
	})
	pols := []policy.Policy{{Pattern: "GET /edge", Downstream: "public, max-age=60, s-maxage=3600", Tags: []string{"edge"}}}
	s := newGateway(t, o, pols, func(o *Options) { o.TagsDownstream = true })
	for i, want := range []string{"MISS", "HIT"} {
		r := s.do(t, "GET", "/edge")
		wantXCache(t, r, want)
		if cc := r.header.Get("Cache-Control"); cc != "public, max-age=60, s-maxage=3600" {
			t.Errorf("response %d Cache-Control %q", i, cc)
		}
		if i == 1 && r.header.Get("Surrogate-Key") != "a b edge" {
			t.Errorf("hit Surrogate-Key %q, want %q", r.header.Get("Surrogate-Key"), "a b edge")
		}
	}
	// moat's own freshness still follows the origin's max-age=300.
	s.clock.Advance(200 * time.Second)
	wantXCache(t, s.do(t, "GET", "/edge"), "HIT")
}

// TestPurgeRacingSlowFill: a purge issued while a fill is in flight must
// never let the pre-purge body be served afterwards.
func TestPurgeRacingSlowFill(t *testing.T) {
	for i := range 30 {
		var version atomic.Int64
		gate := make(chan struct{})
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			v := version.Load()
			if v == 0 {
				<-gate // the first fill is slow: it holds version 0
			}
			w.Header().Set("Cache-Control", "max-age=300")
			w.Header().Set("Surrogate-Key", "item")
			fmt.Fprintf(w, "v%d", v)
		})
		s := newGateway(t, o, nil, nil)
		done := make(chan result)
		go func() { done <- s.do(t, "GET", "/item") }()
		waitFor(t, "the slow fill to reach the origin", func() bool { return o.count("GET /item") == 1 })
		version.Store(1) // the write the purge announces
		if _, err := s.gw.Purge(context.Background(), Purge{Tags: []string{"item"}}); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			go close(gate) // race the release against the checks below
		} else {
			close(gate)
		}
		<-done
		for range 3 {
			if r := s.do(t, "GET", "/item"); r.body != "v1" {
				t.Fatalf("iteration %d: served %q after the purge, want v1", i, r.body)
			}
		}
	}
}

// A purge is applied and fanned out once per ID: a purge another moat
// forwarded goes on down the tree with its ID, the same ID again (a retried
// delivery, or the purge coming back around a loop of moats) does nothing.
func TestPurgeIDsAppliedOnce(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "x")
	})
	var fanned []Purge
	s := newGateway(t, o, nil, func(o *Options) { o.OnPurge = func(p Purge) { fanned = append(fanned, p) } })
	s.do(t, "GET", "/x")
	res, err := s.gw.Purge(context.Background(), Purge{Tags: []string{"x"}, ID: "abc", Origin: "moat"})
	if err != nil || res.Affected != 1 {
		t.Fatalf("purge: %+v %v", res, err)
	}
	if len(fanned) != 1 || fanned[0].ID != "abc" {
		t.Fatalf("fanned out %+v, want the purge once with its ID (down the tree)", fanned)
	}
	s.do(t, "GET", "/x")
	res, err = s.gw.Purge(context.Background(), Purge{Tags: []string{"x"}, ID: "abc", Origin: "moat"})
	if err != nil || !res.Duplicate || res.Affected != 0 || len(fanned) != 1 {
		t.Errorf("the same ID again: %+v %v, fanned %d times; want a duplicate, nothing done", res, err, len(fanned))
	}
	if r := s.do(t, "GET", "/x"); r.xcache() != "HIT" {
		t.Errorf("a duplicate purge removed the entry: %s", r.xcache())
	}
	s.gw.Purge(context.Background(), Purge{Tags: []string{"x"}})
	if len(fanned) != 2 || fanned[1].ID == "" || fanned[1].ID == "abc" {
		t.Errorf("a local purge: fanned %+v, want it once with an ID of its own", fanned)
	}
}

// Two moats that list each other as purge targets: a purge made on one is
// applied once on each, and stops.
func TestPurgeLoopStops(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "x")
	})
	var a, b *setup
	var deliveries atomic.Int64
	forward := func(to **setup) func(Purge) {
		return func(p Purge) {
			deliveries.Add(1)
			if deliveries.Load() > 10 {
				t.Fatal("the purge loops")
			}
			p.Origin = "moat"
			(*to).gw.Purge(context.Background(), p)
		}
	}
	a = newGateway(t, o, nil, func(o *Options) { o.OnPurge = forward(&b) })
	b = newGateway(t, o, nil, func(o *Options) { o.OnPurge = forward(&a) })
	a.gw.Purge(context.Background(), Purge{Tags: []string{"x"}})
	if n := deliveries.Load(); n != 2 {
		t.Errorf("deliveries = %d, want 2 (a to b, b back to a, which stops it)", n)
	}
	if a.gw.Stats().Purges.Load() != 1 || b.gw.Stats().Purges.Load() != 1 {
		t.Errorf("applied %d on a, %d on b; want once each", a.gw.Stats().Purges.Load(), b.gw.Stats().Purges.Load())
	}
}

// A revalidated (304) entry stays reachable by its tags.
func TestTagPurgeAfterRevalidation(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"e"`)
		w.Header().Set("Surrogate-Key", "p3")
		if r.Header.Get("If-None-Match") == `"e"` {
			w.WriteHeader(304)
			return
		}
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, nil, nil)
	s.do(t, "GET", "/p/3")
	s.clock.Advance(61 * time.Second)
	if r := s.do(t, "GET", "/p/3"); !strings.Contains(r.header.Get("Cache-Status"), "fwd-status=304") {
		t.Fatalf("not revalidated: %s", r.header.Get("Cache-Status"))
	}
	res, err := s.gw.Purge(context.Background(), Purge{Tags: []string{"p3"}})
	if err != nil || res.Affected != 1 {
		t.Fatalf("purge after revalidation: %+v %v, want 1 affected", res, err)
	}
	wantXCache(t, s.do(t, "GET", "/p/3"), "MISS")
}

func TestWriteThroughOneNodeReachesTheOther(t *testing.T) {
	// RFC 9111 §4.4 invalidations take the one purge path: counted as a
	// purge and handed to OnPurge, which carries them to the other node.
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "v%d", n.Add(1))
	})
	var a, b *setup
	forward := func(to **setup) func(Purge) {
		return func(p Purge) {
			p.Origin = "moat" // as the fan-out marks it: applied there, not sent back
			if _, err := (*to).gw.Purge(context.Background(), p); err != nil {
				t.Errorf("purge on the other node: %v", err)
			}
		}
	}
	a = newGateway(t, o, nil, func(o *Options) { o.OnPurge = forward(&b) })
	b = newGateway(t, o, nil, func(o *Options) { o.OnPurge = forward(&a) })
	// Both nodes serve the same host, as behind one load balancer.
	get := func(s *setup) result {
		req, _ := http.NewRequest("GET", s.front.URL+"/item", nil)
		req.Host = "api.example"
		resp, err := s.front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return result{resp.StatusCode, resp.Header, string(body)}
	}
	get(a)
	get(b)
	wantXCache(t, get(b), "HIT")
	req, _ := http.NewRequest("PUT", a.front.URL+"/item", nil)
	req.Host = "api.example"
	resp, err := a.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantXCache(t, get(b), "MISS")
	wantXCache(t, get(a), "MISS")
	if got := a.gw.Stats().PurgesByKind[PurgeRFC].Load(); got != 1 {
		t.Errorf("node A counted %d RFC 9111 purges, want 1", got)
	}
	if got := a.gw.Stats().Purges.Load(); got != 1 {
		t.Errorf("node A counted %d purges, want 1", got)
	}
}
