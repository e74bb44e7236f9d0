package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func newTestServer(t *testing.T, o Options) (*Origin, *httptest.Server) {
	t.Helper()
	o.NoLatency = true
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	org := NewOrigin(o)
	srv := httptest.NewServer(org)
	t.Cleanup(srv.Close)
	return org, srv
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestEndpoints(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	tests := []struct {
		name, path       string
		header           http.Header
		wantStatus       int
		wantCacheControl string // "" means the header must be absent
		wantETag         bool
		wantVary         string
		wantSize         [2]int // body length bounds, when non-zero
	}{
		{name: "product", path: "/api/products/42", wantStatus: 200, wantCacheControl: "public, max-age=60", wantETag: true, wantSize: [2]int{700, 1400}},
		{name: "product_not_found", path: "/api/products/1001", wantStatus: 404, wantCacheControl: "public, max-age=10"},
		{name: "product_page", path: "/api/products?page=2&sort=price", wantStatus: 200, wantETag: true},
		{name: "product_page_bad_sort", path: "/api/products?sort=color", wantStatus: 400},
		{name: "product_page_bad_page", path: "/api/products?page=0", wantStatus: 400},
		{name: "catalog", path: "/api/catalog", wantStatus: 200, wantCacheControl: "max-age=0", wantETag: true, wantSize: [2]int{3000, 6000}},
		{name: "book", path: "/api/books/978-3-16-148410-0", wantStatus: 200, wantCacheControl: "public, max-age=300", wantETag: true, wantVary: "Accept-Language"},
		{name: "book_bad_isbn", path: "/api/books/12345", wantStatus: 404, wantCacheControl: "public, max-age=10"},
		{name: "cart", path: "/api/cart", header: http.Header{"X-User": {"alice"}}, wantStatus: 200, wantCacheControl: "private, no-store"},
		{name: "time", path: "/api/time", wantStatus: 200, wantCacheControl: "no-cache", wantETag: true},
		{name: "healthz", path: "/healthz", wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "GET", srv.URL+tt.path, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status: got %d, want %d (body %q)", resp.StatusCode, tt.wantStatus, body)
			}
			cc, hasCC := resp.Header["Cache-Control"]
			if tt.wantCacheControl == "" && hasCC {
				t.Errorf("Cache-Control: got %q, want none", cc)
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.wantCacheControl {
				t.Errorf("Cache-Control: got %q, want %q", got, tt.wantCacheControl)
			}
			if got := resp.Header.Get("ETag"); (got != "") != tt.wantETag || (got != "" && !strings.HasPrefix(got, `"`)) {
				t.Errorf("ETag: got %q, want strong ETag: %v", got, tt.wantETag)
			}
			if got := resp.Header.Get("Vary"); got != tt.wantVary {
				t.Errorf("Vary: got %q, want %q", got, tt.wantVary)
			}
			if tt.wantSize != [2]int{} && (len(body) < tt.wantSize[0] || len(body) > tt.wantSize[1]) {
				t.Errorf("body size: got %d, want %d..%d", len(body), tt.wantSize[0], tt.wantSize[1])
			}
			_, again := do(t, "GET", srv.URL+tt.path, tt.header)
			if again != body {
				t.Errorf("body changed between requests:\n%s\n%s", body, again)
			}
		})
	}
}

func TestProductConditional(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	url := srv.URL + "/api/products/7"
	resp, _ := do(t, "GET", url, nil)
	etag := resp.Header.Get("ETag")
	lastMod := resp.Header.Get("Last-Modified")
	if lastMod == "" {
		t.Fatal("Last-Modified missing")
	}
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"if_none_match", http.Header{"If-None-Match": {etag}}, 304},
		{"if_none_match_weak", http.Header{"If-None-Match": {"W/" + etag}}, 304},
		{"if_none_match_list", http.Header{"If-None-Match": {`"other", ` + etag}}, 304},
		{"if_none_match_other", http.Header{"If-None-Match": {`"other"`}}, 200},
		{"if_modified_since", http.Header{"If-Modified-Since": {lastMod}}, 304},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "GET", url, tt.header)
			if resp.StatusCode != tt.want {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == 304 {
				// RFC 9110 section 15.4.5: a 304 repeats Cache-Control and ETag.
				if got := resp.Header.Get("Cache-Control"); got != "public, max-age=60" {
					t.Errorf("304 Cache-Control: got %q", got)
				}
				if got := resp.Header.Get("ETag"); got != etag {
					t.Errorf("304 ETag: got %q, want %q", got, etag)
				}
				if body != "" {
					t.Errorf("304 body: got %q, want empty", body)
				}
			}
		})
	}
}

func TestProductNotFound(t *testing.T) {
	_, srv := newTestServer(t, Options{Products: 10})
	for _, id := range []string{"0", "11", "-1", "abc", "07", "+7", "99999999999999999999"} {
		t.Run(id, func(t *testing.T) {
			resp, body := do(t, "GET", srv.URL+"/api/products/"+id, nil)
			if resp.StatusCode != 404 {
				t.Fatalf("status: got %d, want 404", resp.StatusCode)
			}
			if got := resp.Header.Get("Cache-Control"); got != "public, max-age=10" {
				t.Errorf("Cache-Control: got %q", got)
			}
			if !json.Valid([]byte(body)) {
				t.Errorf("body is not JSON: %q", body)
			}
		})
	}
}

func TestWritesChangeProduct(t *testing.T) {
	org, srv := newTestServer(t, Options{})
	url := srv.URL + "/api/products/3"
	resp, before := do(t, "GET", url, nil)
	etag := resp.Header.Get("ETag")
	tests := []struct {
		method string
		want   int
	}{{"PUT", 204}, {"POST", 201}, {"DELETE", 204}}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			resp, _ := do(t, tt.method, url, nil)
			if resp.StatusCode != tt.want {
				t.Fatalf("status: got %d, want %d", resp.StatusCode, tt.want)
			}
			resp, after := do(t, "GET", url, http.Header{"If-None-Match": {etag}})
			if resp.StatusCode != 200 {
				t.Fatalf("GET with the old ETag: got %d, want 200", resp.StatusCode)
			}
			if got := resp.Header.Get("ETag"); got == etag || after == before {
				t.Errorf("ETag %q and body unchanged after %s", got, tt.method)
			}
			etag, before = resp.Header.Get("ETag"), after
		})
	}
	if got := org.catalog.versions[2].Load(); got != 3 {
		t.Errorf("version: got %d, want 3", got)
	}
	if resp, _ := do(t, "PUT", srv.URL+"/api/products/5000", nil); resp.StatusCode != 404 {
		t.Errorf("PUT unknown id: got %d, want 404", resp.StatusCode)
	}
	if resp, _ := do(t, "PATCH", url, nil); resp.StatusCode != 405 {
		t.Errorf("PATCH: got %d, want 405", resp.StatusCode)
	}
}

func TestProductPage(t *testing.T) {
	_, srv := newTestServer(t, Options{Products: 45})
	tests := []struct {
		name, query string
		wantLen     int
		sorted      func(a, b productSummary) bool
	}{
		{"default", "", 20, func(a, b productSummary) bool { return a.ID < b.ID }},
		{"by_price", "?sort=price", 20, func(a, b productSummary) bool { return a.Price <= b.Price }},
		{"by_name", "?sort=name&page=2", 20, func(a, b productSummary) bool { return a.Name <= b.Name }},
		{"last_page", "?page=3", 5, func(a, b productSummary) bool { return a.ID < b.ID }},
		{"past_the_end", "?page=9", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := do(t, "GET", srv.URL+"/api/products"+tt.query, nil)
			var p productPage
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatal(err)
			}
			if len(p.Items) != tt.wantLen || p.Pages != 3 || p.Total != 45 {
				t.Fatalf("got %d items, %d pages, total %d; want %d, 3, 45", len(p.Items), p.Pages, p.Total, tt.wantLen)
			}
			for i := 1; i < len(p.Items); i++ {
				if !tt.sorted(p.Items[i-1], p.Items[i]) {
					t.Errorf("items %d and %d out of order: %+v, %+v", i-1, i, p.Items[i-1], p.Items[i])
				}
			}
		})
	}
}

func TestBookLanguage(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	titles := map[string]string{}
	for _, lang := range []string{"en", "de", "fr"} {
		resp, body := do(t, "GET", srv.URL+"/api/books/9783161484100", http.Header{"Accept-Language": {lang}})
		var b book
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			t.Fatal(err)
		}
		if b.Language != lang || resp.Header.Get("Content-Language") != lang {
			t.Errorf("%s: got language %q, Content-Language %q", lang, b.Language, resp.Header.Get("Content-Language"))
		}
		titles[b.Title] = lang
	}
	if len(titles) != 3 {
		t.Errorf("titles: got %v, want three different ones", titles)
	}
}

func TestPreferredLanguage(t *testing.T) {
	tests := []struct{ header, want string }{
		{"", "en"},
		{"de", "de"},
		{"fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5", "fr"},
		{"es, de;q=0.5", "de"},
		{"en;q=0.2, DE-AT;q=0.9", "de"},
		{"de;q=0, fr;q=0.1", "fr"},
		{"de;q=2, fr;q=0.1", "fr"},
		{"ja, zh", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got := preferredLanguage(tt.header); got != tt.want {
				t.Errorf("preferredLanguage(%q): got %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

func TestCart(t *testing.T) {
	_, srv := newTestServer(t, Options{})
	resp, anon := do(t, "GET", srv.URL+"/api/cart", nil)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "session" {
			session = c
		}
	}
	if session == nil || session.Value == "" {
		t.Fatalf("no session cookie set: %v", resp.Header["Set-Cookie"])
	}

	resp, byCookie := do(t, "GET", srv.URL+"/api/cart", http.Header{"Cookie": {"session=" + session.Value}})
	if len(resp.Cookies()) != 0 {
		t.Errorf("cookie set again although the client sent one: %v", resp.Header["Set-Cookie"])
	}
	_, byHeader := do(t, "GET", srv.URL+"/api/cart", http.Header{"X-User": {session.Value}})
	if byCookie != anon || byHeader != anon {
		t.Errorf("same user, different carts:\n%s\n%s\n%s", anon, byCookie, byHeader)
	}
	_, bob := do(t, "GET", srv.URL+"/api/cart", http.Header{"X-User": {"bob"}})
	if bob == anon {
		t.Error("different users got the same cart")
	}
}

func TestTime(t *testing.T) {
	var now atomic.Pointer[time.Time]
	now.Store(&testNow)
	_, srv := newTestServer(t, Options{Now: func() time.Time { return *now.Load() }})
	resp, body := do(t, "GET", srv.URL+"/api/time", nil)
	etag := resp.Header.Get("ETag")
	if !strings.Contains(body, testNow.Format(time.RFC3339)) {
		t.Errorf("body %q lacks %s", body, testNow.Format(time.RFC3339))
	}

	later := testNow.Add(900 * time.Millisecond)
	now.Store(&later)
	if resp, _ := do(t, "GET", srv.URL+"/api/time", http.Header{"If-None-Match": {etag}}); resp.StatusCode != 304 {
		t.Errorf("same second: got %d, want 304", resp.StatusCode)
	}
	next := testNow.Add(time.Second)
	now.Store(&next)
	if resp, _ := do(t, "GET", srv.URL+"/api/time", http.Header{"If-None-Match": {etag}}); resp.StatusCode != 200 {
		t.Errorf("next second: got %d, want 200", resp.StatusCode)
	}
}

func TestRequestCounts(t *testing.T) {
	org, srv := newTestServer(t, Options{})
	for _, p := range []string{"/api/products/1", "/api/products/1", "/api/products?page=2", "/api/nope", "/healthz"} {
		do(t, "GET", srv.URL+p, nil)
	}
	if got := org.Requests(); got != 4 {
		t.Errorf("Requests: got %d, want 4 (healthz is not counted)", got)
	}
	for path, want := range map[string]int64{"/api/products/1": 2, "/api/products?page=2": 1, "/api/products": 0, "/healthz": 0} {
		if got := org.RequestsFor(path); got != want {
			t.Errorf("RequestsFor(%q): got %d, want %d", path, got, want)
		}
	}
}

func TestRequestsForIsBounded(t *testing.T) {
	const maxPaths, goroutines, perGoroutine = 100, 8, 50
	org := NewOrigin(Options{NoLatency: true})
	org.maxPaths = maxPaths
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				org.count("/shared", "")                     // one path everybody races to create
				org.count(fmt.Sprintf("/p/%d/%d", g, i), "") // and many distinct ones
			}
		})
	}
	wg.Wait()
	if got := org.tracked.Load(); got != maxPaths {
		t.Errorf("tracked paths: got %d, want the cap, %d", got, maxPaths)
	}
	if got := org.RequestsFor("/shared"); got != goroutines*perGoroutine {
		t.Errorf("RequestsFor(/shared): got %d, want %d", got, goroutines*perGoroutine)
	}
	if got := org.Requests(); got != 2*goroutines*perGoroutine {
		t.Errorf("Requests: got %d, want %d", got, 2*goroutines*perGoroutine)
	}
}

func TestLatency(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name     string
		opts     Options
		min, max time.Duration
	}{
		{"default", Options{}, 20 * ms, 50 * ms},
		{"disabled", Options{NoLatency: true}, 0, 0},
		{"custom", Options{MinLatency: 1 * ms, MaxLatency: 3 * ms}, 1 * ms, 3 * ms},
		{"max_below_min", Options{MinLatency: 5 * ms, MaxLatency: 2 * ms}, 5 * ms, 5 * ms},
		{"only_max", Options{MaxLatency: 4 * ms}, 0, 4 * ms},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Seed = 7
			a, b := NewOrigin(tt.opts), NewOrigin(tt.opts)
			if a.minLatency != tt.min || a.maxLatency != tt.max {
				t.Fatalf("range: got %v..%v, want %v..%v", a.minLatency, a.maxLatency, tt.min, tt.max)
			}
			if tt.max == 0 {
				return
			}
			for range 100 {
				da, db := a.delay(), b.delay()
				if da != db {
					t.Fatalf("same seed, different draws: %v, %v", da, db)
				}
				if da < tt.min || da > tt.max {
					t.Fatalf("draw %v outside %v..%v", da, tt.min, tt.max)
				}
			}
		})
	}
}

func TestSleepStopsOnCancel(t *testing.T) {
	org := NewOrigin(Options{MinLatency: time.Hour, MaxLatency: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := org.sleep(ctx); err != context.Canceled {
		t.Errorf("sleep: got %v, want context.Canceled", err)
	}
}

func FuzzPreferredLanguage(f *testing.F) {
	for _, s := range []string{"", "de", "fr-CH, fr;q=0.9, en;q=0.8", "de;q=NaN", "fr;q=Inf", ",;q=,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if got := preferredLanguage(header); !slices.Contains([]string{"en", "de", "fr"}, got) {
			t.Errorf("preferredLanguage(%q) = %q, not a supported language", header, got)
		}
	})
}

func FuzzNormalizeISBN(f *testing.F) {
	for _, s := range []string{"978-3-16-148410-0", "0-306-40615-2", "030640615X", "X", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		isbn, ok := normalizeISBN(s)
		if !ok {
			return
		}
		if len(isbn) != 10 && len(isbn) != 13 {
			t.Errorf("normalizeISBN(%q) = %q, want 10 or 13 characters", s, isbn)
		}
		if again, ok := normalizeISBN(isbn); !ok || again != isbn {
			t.Errorf("normalizeISBN not idempotent: %q -> %q -> %q", s, isbn, again)
		}
	})
}

func BenchmarkProduct(b *testing.B) {
	org := NewOrigin(Options{NoLatency: true})
	req := httptest.NewRequest("GET", "/api/products/42", nil)
	b.ReportAllocs()
	for b.Loop() {
		org.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func ExampleOrigin() {
	srv := httptest.NewServer(NewOrigin(Options{NoLatency: true}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/products/42")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Cache-Control"))
	// Output: 200 public, max-age=60
}
