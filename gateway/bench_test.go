package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/policy"
)

// discardWriter is a ResponseWriter that reuses its header map and drops
// the body, so a benchmark measures the handler, not the recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }
func (d *discardWriter) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discardWriter) reset() {
	clear(d.h)
	d.status, d.n = 0, 0
}

func benchPolicies(b testing.TB) *policy.Table {
	tbl, err := policy.New([]policy.Policy{
		{Pattern: "GET /api/products/{id}", TTL: 5 * time.Minute},
		{Pattern: "GET /api/products", TTL: 30 * time.Second},
		{Pattern: "GET /api/catalog", TTL: time.Hour, OverrideOrigin: true},
		{Pattern: "GET /api/cart", Bypass: true},
		{Pattern: "GET /api/books/{isbn}"},
		{Pattern: "/static/{path...}", TTL: 24 * time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	return tbl
}

// BenchmarkRouteMatchAndKey is the per-request work before the lookup:
// route match, URL normalization (an already canonical URL) and the key.
func BenchmarkRouteMatchAndKey(b *testing.B) {
	tbl := benchPolicies(b)
	norm, err := cachekey.NewNormalizer(cachekey.Options{})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1:1")
	h, err := New(Options{Origin: u, Policies: tbl, Normalizer: norm})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	r := httptest.NewRequest("GET", "http://api.example.com/api/products/42?fields=name", nil)
	b.ReportAllocs()
	for b.Loop() {
		pol := tbl.Match(r)
		if pol == nil {
			b.Fatal("no match")
		}
		nr, _ := h.normalize(r, pol)
		_ = h.key(nr, pol)
	}
}

// BenchmarkHitPath is the whole handler answering a hit of a 1 KiB body.
func BenchmarkHitPath(b *testing.B) {
	for _, size := range []int{1 << 10, 16 << 10} {
		b.Run(fmt.Sprintf("body=%dKiB", size>>10), func(b *testing.B) {
			mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer mem.Close()
			u, _ := url.Parse("http://127.0.0.1:1")
			norm, err := cachekey.NewNormalizer(cachekey.Options{})
			if err != nil {
				b.Fatal(err)
			}
			h, err := New(Options{Origin: u, Tier: mem, Policies: benchPolicies(b), Normalizer: norm, Compress: true})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			r := httptest.NewRequest("GET", "http://api.example.com/api/products/42", nil)
			key := h.key(r, h.policies.Match(r))
			now := time.Now()
			body := make([]byte, size)
			e := &cache.Entry{
				Key: key, Status: 200, Body: body,
				Header: http.Header{
					"Content-Type":   {"application/json"},
					"Content-Length": {fmt.Sprint(size)},
					"Cache-Control":  {"public, max-age=300"},
					"Etag":           {`"abc123"`},
					"Date":           {now.UTC().Format(http.TimeFormat)},
				},
				ResponseTime: now, RequestTime: now, Lifetime: time.Hour, ETag: `"abc123"`,
				KeepUntil: now.Add(time.Hour),
			}
			if err := mem.Set(b.Context(), key, e); err != nil {
				b.Fatal(err)
			}
			w := &discardWriter{h: make(http.Header, 16)}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				w.reset()
				h.ServeHTTP(w, r)
			}
			if w.status != 200 || w.n != size {
				b.Fatalf("status %d, %d bytes", w.status, w.n)
			}
		})
	}
}

// BenchmarkPurgeTag100k purges one tag that covers 100,000 stored entries.
func BenchmarkPurgeTag100k(b *testing.B) {
	const n = 100_000
	idx := cache.NewTagIndex(0)
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 1 << 30, OnRemove: func(k string, e *cache.Entry) { idx.Remove(k, e) }})
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	u, _ := url.Parse("http://127.0.0.1:1")
	h, err := New(Options{Origin: u, Tier: mem, TagIndex: idx})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	now := time.Now()
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("GET http://api.example.com/api/products/%d", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, k := range keys {
			e := &cache.Entry{Key: k, Status: 200, Body: []byte("{}"), ResponseTime: now, Lifetime: time.Hour,
				KeepUntil: now.Add(time.Hour), Tags: []string{"products"}}
			_ = idx.Add(k, e)
			_ = mem.Set(b.Context(), k, e)
		}
		b.StartTimer()
		res, err := h.Purge(b.Context(), Purge{Tags: []string{"products"}})
		if err != nil || res.Affected != n {
			b.Fatalf("purge: %+v %v", res, err)
		}
	}
}

// BenchmarkPurgeRouteVersion bumps a route's namespace version: O(1)
// whatever the route holds (the count of affected entries is a scan, so
// the benchmark measures an empty L1).
func BenchmarkPurgeRouteVersion(b *testing.B) {
	u, _ := url.Parse("http://127.0.0.1:1")
	h, err := New(Options{Origin: u, Policies: benchPolicies(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Purge(b.Context(), Purge{Routes: []string{"GET /api/products/{id}"}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMissPath is the whole handler answering a miss of a 1 KiB body
// from an origin on loopback (a keep-alive connection), a new URL each
// time: fetch, store, answer. The origin's own work (an httptest server in
// this process) is in the figures.
func BenchmarkMissPath(b *testing.B) {
	body := make([]byte, 1<<10)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(body)
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer mem.Close()
	h, err := New(Options{Origin: u, Tier: mem, Policies: benchPolicies(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	w := &discardWriter{h: make(http.Header, 16)}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		w.reset()
		h.ServeHTTP(w, httptest.NewRequest("GET", fmt.Sprintf("http://api.example.com/api/products/%d", i), nil))
		if w.status != 200 || w.n != len(body) {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
}
