package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
	"github.com/moatproxy/moat/upstream"
)

// member is an upstream server that says its name.
func member(t *testing.T, name string, served *atomic.Int64) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		w.Header().Set("X-Member", name)
		fmt.Fprintf(w, "%s %s host=%s", name, r.URL.Path, r.Host)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestRouteUpstream(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "origin "+r.URL.Path) })
	var na, nb atomic.Int64
	a, b := member(t, "a", &na), member(t, "b", &nb)
	ua, _ := url.Parse(a.URL)
	ub, _ := url.Parse(b.URL)
	pool, err := upstream.New(upstream.Options{Name: "api", Members: []upstream.Member{{URL: ua}, {URL: ub}},
		Passive: upstream.Passive{MaxFails: 1, FailTimeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	pols := []policy.Policy{
		{Pattern: "GET /api/{id}", Upstream: "api"},
		{Pattern: "GET /stale/{id}", Upstream: "api", TTL: time.Second, OverrideOrigin: true, StaleIfError: time.Hour},
	}
	s := newGateway(t, o, pols, func(opts *Options) {
		opts.Upstreams = map[string]http.RoundTripper{"api": pool}
	})
	for i := range 4 {
		rec := serveDirect(s.gw, "GET", fmt.Sprintf("/api/%d", i))
		if rec.Code != 200 || rec.Header().Get("X-Member") == "" {
			t.Fatalf("route request %d: %d %q", i, rec.Code, rec.Body.String())
		}
	}
	if na.Load() != 2 || nb.Load() != 2 {
		t.Errorf("round robin over two members: a=%d b=%d, want 2 and 2", na.Load(), nb.Load())
	}
	// The member sees its own host, not the placeholder or the client's.
	if rec := serveDirect(s.gw, "GET", "/api/9"); rec.Body.String() != fmt.Sprintf("%s /api/9 host=%s", rec.Header().Get("X-Member"), map[string]string{"a": ua.Host, "b": ub.Host}[rec.Header().Get("X-Member")]) {
		t.Errorf("member answer %q", rec.Body.String())
	}
	// Requests of no route go to the origin.
	if rec := serveDirect(s.gw, "GET", "/other"); rec.Body.String() != "origin /other" {
		t.Errorf("unrouted request: %q", rec.Body.String())
	}
	if rec := serveDirect(s.gw, "GET", "/stale/1"); rec.Code != 200 {
		t.Fatalf("stale route: %d", rec.Code)
	}

	// One member goes away: clients see no error (the request that finds it
	// refused is sent to the other; then it is ejected).
	a.Close()
	before := nb.Load()
	for i := range 4 {
		if rec := serveDirect(s.gw, "GET", fmt.Sprintf("/api/x%d", i)); rec.Code != 200 || rec.Header().Get("X-Member") != "b" {
			t.Fatalf("with a down: %d %q", rec.Code, rec.Body.String())
		}
	}
	if nb.Load()-before != 4 {
		t.Errorf("b served %d of 4", nb.Load()-before)
	}

	// Both gone: 503 with Retry-After, or the stale copy under
	// stale-if-error.
	b.Close()
	serveDirect(s.gw, "GET", "/api/y") // ejects b
	rec := serveDirect(s.gw, "GET", "/api/z")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("pool down: %d Retry-After %q %q, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	s.clock.Advance(2 * time.Second)
	rec = serveDirect(s.gw, "GET", "/stale/1")
	if rec.Code != 200 || rec.Header().Get("X-Cache") != "STALE" {
		t.Errorf("pool down with a stale entry: %d %s, want 200 STALE", rec.Code, rec.Header().Get("X-Cache"))
	}
}

func TestUpstreamMissing(t *testing.T) {
	tbl, _ := policy.New([]policy.Policy{{Pattern: "GET /api/{id}", Upstream: "nope"}})
	u, _ := url.Parse("http://127.0.0.1:1")
	if _, err := New(Options{Origin: u, Policies: tbl}); err == nil {
		t.Fatal("a route naming an unknown upstream was accepted")
	}
}
