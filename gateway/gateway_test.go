package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// origin is a real HTTP origin on loopback that counts requests per path.
type origin struct {
	*httptest.Server
	mu     sync.Mutex
	counts map[string]int
	last   *http.Request
	total  atomic.Int64
}

func newOrigin(t *testing.T, h http.HandlerFunc) *origin {
	t.Helper()
	o := &origin{counts: map[string]int{}}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.counts[r.Method+" "+r.URL.RequestURI()]++
		o.last = r.Clone(context.Background())
		o.mu.Unlock()
		o.total.Add(1)
		h(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) count(methodAndURI string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[methodAndURI]
}

func (o *origin) lastRequest() *http.Request {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

type setup struct {
	gw    *Handler
	front *httptest.Server
	clock *clock
}

func newGateway(t *testing.T, o *origin, pols []policy.Policy, mod func(*Options)) *setup {
	t.Helper()
	u, _ := url.Parse(o.URL)
	tbl, err := policy.New(pols)
	if err != nil {
		t.Fatal(err)
	}
	c := newClock()
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	opts := Options{Origin: u, Tier: mem, Policies: tbl, Now: c.Now, OriginTimeout: 2 * time.Second, HeuristicMax: 24 * time.Hour}
	if mod != nil {
		mod(&opts)
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	front := httptest.NewServer(gw)
	t.Cleanup(front.Close)
	return &setup{gw: gw, front: front, clock: c}
}

type result struct {
	status int
	header http.Header
	body   string
}

func (s *setup) do(t *testing.T, method, path string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, s.front.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := s.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

func (r result) xcache() string { return r.header.Get("X-Cache") }

func wantXCache(t *testing.T, r result, want string) {
	t.Helper()
	if got := r.xcache(); got != want {
		t.Fatalf("X-Cache = %q, want %q (Cache-Status %q, status %d)", got, want, r.header.Get("Cache-Status"), r.status)
	}
}

func TestSecondGetIsHit(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprint(w, "hello "+r.URL.Path)
	})
	s := newGateway(t, o, nil, nil)

	first := s.do(t, "GET", "/a")
	wantXCache(t, first, "MISS")
	if got := first.header.Get("Cache-Status"); got != "moat; fwd=uri-miss; fwd-status=200; ttl=60; stored" {
		t.Errorf("first Cache-Status = %q", got)
	}
	s.clock.Advance(19 * time.Second)
	second := s.do(t, "GET", "/a")
	wantXCache(t, second, "HIT")
	if second.body != "hello /a" {
		t.Errorf("body = %q", second.body)
	}
	if got := second.header.Get("Age"); got != "19" {
		t.Errorf("Age = %q, want 19", got)
	}
	if got := second.header.Get("Cache-Status"); got != "moat; hit; ttl=41" {
		t.Errorf("Cache-Status = %q, want moat; hit; ttl=41", got)
	}
	if got := second.header.Get("Date"); got != first.header.Get("Date") {
		t.Errorf("Date changed on hit: %q vs %q", got, first.header.Get("Date"))
	}
	if n := o.count("GET /a"); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
	s.clock.Advance(42 * time.Second)
	third := s.do(t, "GET", "/a")
	wantXCache(t, third, "MISS")
	if n := o.count("GET /a"); n != 2 {
		t.Errorf("origin requests after expiry = %d, want 2", n)
	}
}

func TestConcurrentMissesCoalesce(t *testing.T) {
	release := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "slow")
	})
	s := newGateway(t, o, nil, nil)
	var releaseOnce sync.Once
	releaseOrigin := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseOrigin() // a failed wait must not leave the origin's handlers hanging
	const n = 50
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.do(t, "GET", "/slow")
		}()
	}
	// The origin answers only once every request is either at the origin
	// or counted as waiting on a fill in progress, so the counts below do
	// not depend on how the requests were scheduled. Without coalescing,
	// all of them reach the origin and the wait ends too.
	waitFor(t, "every request to reach the origin or wait on a fill", func() bool {
		return int(o.total.Load()+s.gw.Stats().Collapsed.Load()) >= n
	})
	releaseOrigin()
	wg.Wait()
	if got := o.count("GET /slow"); got != 1 {
		t.Fatalf("origin requests = %d, want 1", got)
	}
	for i, r := range results {
		if r.status != 200 || r.body != "slow" {
			t.Fatalf("response %d: %d %q", i, r.status, r.body)
		}
	}
	if c := s.gw.Stats().Collapsed.Load(); c != n-1 {
		t.Errorf("collapsed = %d, want %d", c, n-1)
	}
}

func TestUncacheableNeverServedFromCache(t *testing.T) {
	for _, cc := range []string{"no-store", "private, max-age=60", "public, no-store, max-age=60", "private"} {
		t.Run(cc, func(t *testing.T) {
			var n atomic.Int64
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Cache-Control", cc)
				fmt.Fprintf(w, "user-%d", n.Add(1))
			})
			s := newGateway(t, o, []policy.Policy{{Pattern: "GET /p", TTL: time.Hour, OverrideOrigin: true}}, nil)
			for i := 1; i <= 3; i++ {
				r := s.do(t, "GET", "/p")
				if want := fmt.Sprintf("user-%d", i); r.body != want {
					t.Fatalf("request %d got %q, want %q (served from cache?)", i, r.body, want)
				}
				wantXCache(t, r, "MISS")
			}
		})
	}
}

func TestRoutePolicies(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/catalog":
			w.Header().Set("Cache-Control", "max-age=0")
		case "/api/products/1", "/other":
			// no freshness information, no validators
		}
		fmt.Fprint(w, r.URL.Path)
	})
	pols := []policy.Policy{
		{Pattern: "GET /api/products/{id}", TTL: 5 * time.Minute},
		{Pattern: "GET /api/catalog", TTL: time.Hour, OverrideOrigin: true},
		{Pattern: "GET /api/cart", Bypass: true},
	}
	s := newGateway(t, o, pols, nil)
	tests := []struct {
		name, path  string
		wantSecond  string
		wantOrigin  int
		wantCSMatch string
	}{
		{"route_ttl_when_origin_gives_none", "/api/products/1", "HIT", 1, "ttl=299"},
		{"override_origin_beats_max_age_0", "/api/catalog", "HIT", 1, "ttl=3599"},
		{"cache_false_bypasses", "/api/cart", "BYPASS", 2, "fwd=bypass"},
		{"no_route_no_freshness_not_stored", "/other", "MISS", 2, "detail=no-freshness"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.do(t, "GET", tt.path)
			s.clock.Advance(time.Second)
			r := s.do(t, "GET", tt.path)
			wantXCache(t, r, tt.wantSecond)
			if got := o.count("GET " + tt.path); got != tt.wantOrigin {
				t.Errorf("origin requests = %d, want %d", got, tt.wantOrigin)
			}
			if cs := r.header.Get("Cache-Status"); !strings.Contains(cs, tt.wantCSMatch) {
				t.Errorf("Cache-Status = %q, want it to contain %q", cs, tt.wantCSMatch)
			}
		})
	}
}

func TestVaryVariants(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprint(w, "lang="+r.Header.Get("Accept-Language"))
	})
	s := newGateway(t, o, nil, nil)
	for _, lang := range []string{"de", "fr", "de", "fr", ""} {
		r := s.do(t, "GET", "/v", "Accept-Language", lang)
		if r.body != "lang="+lang {
			t.Fatalf("Accept-Language %q got body %q", lang, r.body)
		}
	}
	if n := o.count("GET /v"); n != 3 {
		t.Errorf("origin requests = %d, want 3 (de, fr, none)", n)
	}
	// §4.4 invalidation drops every variant.
	s.do(t, "POST", "/v")
	r := s.do(t, "GET", "/v", "Accept-Language", "de")
	wantXCache(t, r, "MISS")
	r = s.do(t, "GET", "/v", "Accept-Language", "fr")
	wantXCache(t, r, "MISS")
}

func TestVaryStarAndSetCookie(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/star":
			w.Header().Set("Vary", "*")
		case "/cookie", "/cookie-ok":
			w.Header().Set("Set-Cookie", "session=abc")
		}
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /cookie-ok", AllowSetCookie: true}}, nil)
	for _, p := range []string{"/star", "/cookie"} {
		s.do(t, "GET", p)
		wantXCache(t, s.do(t, "GET", p), "MISS")
	}
	first := s.do(t, "GET", "/cookie-ok")
	if first.header.Get("Set-Cookie") == "" {
		t.Error("requesting client lost its Set-Cookie")
	}
	second := s.do(t, "GET", "/cookie-ok")
	wantXCache(t, second, "HIT")
	if sc := second.header.Get("Set-Cookie"); sc != "" {
		t.Errorf("stored response replayed Set-Cookie %q to another client", sc)
	}
}

func TestAuthorization(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/public" {
			w.Header().Set("Cache-Control", "public, max-age=60")
		} else {
			w.Header().Set("Cache-Control", "max-age=60")
		}
		fmt.Fprint(w, "for "+r.Header.Get("Authorization"))
	})
	s := newGateway(t, o, nil, nil)

	t.Run("not_stored_without_public", func(t *testing.T) {
		r := s.do(t, "GET", "/private-ish", "Authorization", "Bearer alice")
		if r.body != "for Bearer alice" {
			t.Fatalf("body %q", r.body)
		}
		anon := s.do(t, "GET", "/private-ish")
		if anon.body != "for " {
			t.Fatalf("anonymous request got %q: an authorized response was shared", anon.body)
		}
	})
	t.Run("stored_entry_not_served_to_credentials", func(t *testing.T) {
		s.do(t, "GET", "/private-ish") // anonymous entry now stored
		r := s.do(t, "GET", "/private-ish", "Authorization", "Bearer bob")
		if r.body != "for Bearer bob" {
			t.Fatalf("request with credentials got %q", r.body)
		}
	})
	t.Run("public_may_be_shared", func(t *testing.T) {
		s.do(t, "GET", "/public", "Authorization", "Bearer carol")
		r := s.do(t, "GET", "/public", "Authorization", "Bearer dave")
		wantXCache(t, r, "HIT")
	})
}

func TestHeadAndConditional(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Sat, 21 Nov 2026 10:00:00 GMT")
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "body-v1")
	})
	s := newGateway(t, o, nil, nil)

	head := s.do(t, "HEAD", "/h")
	if head.status != 200 || head.header.Get("Content-Length") != "7" {
		t.Fatalf("HEAD miss: %d, Content-Length %q", head.status, head.header.Get("Content-Length"))
	}
	if n := o.count("GET /h"); n != 1 {
		t.Fatalf("HEAD miss should fill with a GET, origin GETs = %d", n)
	}
	r := s.do(t, "GET", "/h")
	wantXCache(t, r, "HIT")
	if r.body != "body-v1" {
		t.Fatalf("body %q", r.body)
	}
	head = s.do(t, "HEAD", "/h")
	wantXCache(t, head, "HIT")

	inm := s.do(t, "GET", "/h", "If-None-Match", `W/"v1"`)
	if inm.status != 304 || inm.body != "" {
		t.Errorf("If-None-Match hit: %d %q, want 304 and no body", inm.status, inm.body)
	}
	ims := s.do(t, "GET", "/h", "If-Modified-Since", "Sat, 21 Nov 2026 11:00:00 GMT")
	if ims.status != 304 {
		t.Errorf("If-Modified-Since hit: %d, want 304", ims.status)
	}
	miss := s.do(t, "GET", "/h", "If-None-Match", `"other"`)
	if miss.status != 200 {
		t.Errorf("non-matching validator: %d, want 200", miss.status)
	}

	t.Run("conditional_miss_fills_and_answers_304", func(t *testing.T) {
		r := s.do(t, "GET", "/h2", "If-None-Match", `"v1"`)
		if r.status != 304 {
			t.Fatalf("status %d, want 304", r.status)
		}
		if got := o.lastRequest().Header.Get("If-None-Match"); got != "" {
			t.Errorf("origin saw the client's If-None-Match %q; the fill must be unconditional", got)
		}
		full := s.do(t, "GET", "/h2")
		wantXCache(t, full, "HIT")
		if full.body != "body-v1" {
			t.Errorf("stored body %q", full.body)
		}
	})

	t.Run("stale_entry_revalidated_with_304", func(t *testing.T) {
		s.clock.Advance(2 * time.Minute)
		r := s.do(t, "GET", "/h")
		if r.status != 200 || r.body != "body-v1" {
			t.Fatalf("revalidated response %d %q", r.status, r.body)
		}
		if got := o.lastRequest().Header.Get("If-None-Match"); got != `"v1"` {
			t.Errorf("revalidation sent If-None-Match %q, want \"v1\"", got)
		}
		if cs := r.header.Get("Cache-Status"); !strings.Contains(cs, "fwd=stale; fwd-status=304") {
			t.Errorf("Cache-Status %q", cs)
		}
		again := s.do(t, "GET", "/h")
		wantXCache(t, again, "HIT")
		if s.gw.Stats().Revalidated.Load() != 1 {
			t.Errorf("revalidated = %d, want 1", s.gw.Stats().Revalidated.Load())
		}
	})
}

func TestRequestDirectives(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, nil, nil)
	s.do(t, "GET", "/d")
	s.clock.Advance(10 * time.Second)
	tests := []struct {
		name, cc, want string
	}{
		{"max_age_larger_than_age_hits", "max-age=30", "HIT"},
		{"max_age_smaller_than_age_misses", "max-age=5", "MISS"},
		{"min_fresh_too_much_misses", "min-fresh=3600", "MISS"},
		{"no_cache_misses", "no-cache", "MISS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantXCache(t, s.do(t, "GET", "/d", "Cache-Control", tt.cc), tt.want)
		})
	}
	t.Run("only_if_cached_miss_is_504", func(t *testing.T) {
		r := s.do(t, "GET", "/never", "Cache-Control", "only-if-cached")
		if r.status != 504 || o.count("GET /never") != 0 {
			t.Errorf("status %d, origin %d; want 504 and no origin request", r.status, o.count("GET /never"))
		}
	})
	t.Run("max_stale_serves_stale", func(t *testing.T) {
		s.do(t, "GET", "/ms")
		s.clock.Advance(70 * time.Second)
		wantXCache(t, s.do(t, "GET", "/ms", "Cache-Control", "max-stale=60"), "HIT")
	})
}

func TestUnsafeMethodsInvalidate(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "GET":
			w.Header().Set("Cache-Control", "max-age=600")
			fmt.Fprint(w, r.URL.Path)
		case "PUT":
			w.Header().Set("Content-Location", "/items/7")
			w.WriteHeader(204)
		case "DELETE":
			w.WriteHeader(500)
		}
	})
	s := newGateway(t, o, nil, nil)
	for _, p := range []string{"/items/42", "/items/7", "/items/9"} {
		s.do(t, "GET", p)
	}
	put := s.do(t, "PUT", "/items/42")
	if put.status != 204 || put.xcache() != "BYPASS" {
		t.Fatalf("PUT: %d %s", put.status, put.xcache())
	}
	wantXCache(t, s.do(t, "GET", "/items/42"), "MISS")
	wantXCache(t, s.do(t, "GET", "/items/7"), "MISS")
	wantXCache(t, s.do(t, "GET", "/items/9"), "HIT")
	s.do(t, "DELETE", "/items/9") // 5xx: no invalidation
	wantXCache(t, s.do(t, "GET", "/items/9"), "HIT")
}

func TestPassThrough(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Connection", "X-Hop")
		w.Header().Set("X-Hop", "secret")
		w.Header().Set("X-End", "kept")
		w.WriteHeader(299)
		fmt.Fprintf(w, "%s %s xff=%s proto=%s host=%s", r.Method, b,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"))
	})
	s := newGateway(t, o, nil, nil)
	req, _ := http.NewRequest("PURGEX", s.front.URL+"/x", strings.NewReader("payload"))
	req.Header.Set("Connection", "X-Req-Hop")
	req.Header.Set("X-Req-Hop", "1")
	resp, err := s.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 299 {
		t.Errorf("status %d, want 299", resp.StatusCode)
	}
	host := strings.TrimPrefix(s.front.URL, "http://")
	if want := "PURGEX payload xff=127.0.0.1 proto=http host=" + host; string(b) != want {
		t.Errorf("origin saw %q, want %q", b, want)
	}
	if resp.Header.Get("X-Hop") != "" || resp.Header.Get("X-End") != "kept" {
		t.Errorf("hop-by-hop handling: X-Hop=%q X-End=%q", resp.Header.Get("X-Hop"), resp.Header.Get("X-End"))
	}
	if o.lastRequest().Header.Get("X-Req-Hop") != "" {
		t.Error("request field named in Connection reached the origin")
	}
}

func TestLargeAndTruncatedBodiesNotStored(t *testing.T) {
	big := strings.Repeat("b", 64<<10)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		switch r.URL.Path {
		case "/big":
			fmt.Fprint(w, big)
		case "/cut":
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(200)
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		}
	})
	s := newGateway(t, o, nil, func(o *Options) { o.MaxObjectSize = 16 << 10 })
	r := s.do(t, "GET", "/big")
	if r.body != big {
		t.Fatalf("big body len %d, want %d", len(r.body), len(big))
	}
	wantXCache(t, s.do(t, "GET", "/big"), "MISS")
	if n := o.count("GET /big"); n != 2 {
		t.Errorf("big origin requests = %d, want 2", n)
	}

	// No keep-alive: a reused connection that fails before the response
	// would be retried by the client and blur the origin count.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", s.front.URL+"/cut", nil)
		resp, err := client.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatalf("request %d: truncated body read without error", i)
		}
	}
	if n := o.count("GET /cut"); n != 2 {
		t.Errorf("truncated origin requests = %d, want 2 (never stored)", n)
	}
}

func TestOriginFailures(t *testing.T) {
	t.Run("refused_is_502", func(t *testing.T) {
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
		s := newGateway(t, o, nil, nil)
		o.Close()
		r := s.do(t, "GET", "/x")
		if r.status != 502 || !strings.Contains(r.body, "origin unreachable") {
			t.Errorf("got %d %q, want 502", r.status, r.body)
		}
		if r.header.Get("Cache-Status") == "" {
			t.Error("no Cache-Status on error response")
		}
	})
	t.Run("timeout_is_504", func(t *testing.T) {
		release := make(chan struct{})
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { <-release })
		defer close(release)
		s := newGateway(t, o, nil, func(o *Options) { o.OriginTimeout = 100 * time.Millisecond })
		r := s.do(t, "GET", "/x")
		if r.status != 504 {
			t.Errorf("got %d %q, want 504", r.status, r.body)
		}
	})
	t.Run("5xx_not_cached", func(t *testing.T) {
		o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.WriteHeader(503)
		})
		s := newGateway(t, o, nil, nil)
		s.do(t, "GET", "/x")
		r := s.do(t, "GET", "/x")
		if r.status != 503 || o.count("GET /x") != 2 {
			t.Errorf("status %d origin %d; want 503 twice from origin", r.status, o.count("GET /x"))
		}
	})
}

// TestTruncatedBodyHijack makes sure the test above really cuts the body:
// a raw client sees fewer bytes than Content-Length.
func TestTruncatedBodyHijack(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(200)
		fmt.Fprint(w, "partial")
		w.(http.Flusher).Flush()
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	})
	c, err := net.Dial("tcp", strings.TrimPrefix(o.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil || len(b) == 1000 {
		t.Fatalf("body not truncated: %d bytes, err %v", len(b), err)
	}
}

func TestHitForMiss(t *testing.T) {
	var n atomic.Int64
	// gate holds the origin's answers until a wave's requests are all at
	// the origin or waiting on a fill, so that they overlap however they
	// are scheduled (nil: answer at once).
	var gate atomic.Pointer[chan struct{}]
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if g := gate.Load(); g != nil {
			<-*g
		}
		if r.URL.Path == "/now-cacheable" && n.Add(1) > 1 {
			w.Header().Set("Cache-Control", "max-age=60")
		} else {
			w.Header().Set("Cache-Control", "no-store")
		}
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, nil, nil)
	wave := func(path string) {
		g := make(chan struct{})
		gate.Store(&g)
		var once sync.Once
		// The waiters of an uncacheable answer ask the origin themselves:
		// once released, the gate stays open.
		release := func() { once.Do(func() { gate.Store(nil); close(g) }) }
		defer release() // a failed wait must not leave the origin's handlers hanging
		before := o.total.Load() + s.gw.Stats().Collapsed.Load()
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() { s.do(t, "GET", path) })
		}
		waitFor(t, "every request of the wave at the origin or waiting on a fill", func() bool {
			return o.total.Load()+s.gw.Stats().Collapsed.Load()-before >= 10
		})
		release()
		wg.Wait()
	}
	wave("/uncacheable")
	collapsed := s.gw.Stats().Collapsed.Load()
	if collapsed == 0 {
		t.Fatal("first wave did not coalesce at all")
	}
	wave("/uncacheable")
	if got := s.gw.Stats().Collapsed.Load(); got != collapsed {
		t.Errorf("second wave coalesced %d requests behind an uncacheable key; want 0", got-collapsed)
	}
	if got := o.count("GET /uncacheable"); got != 20 {
		t.Errorf("origin requests = %d, want 20 (uncacheable responses are never shared)", got)
	}

	// A marked key whose response becomes storable is stored again.
	s.do(t, "GET", "/now-cacheable")
	s.do(t, "GET", "/now-cacheable")
	wantXCache(t, s.do(t, "GET", "/now-cacheable"), "HIT")
}
