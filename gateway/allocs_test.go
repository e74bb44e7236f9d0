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
)

// A fresh hit allocates one string (its key) and nothing else: the
// request state stays on the stack, Cache-Status and Age are shared.
// A change that makes hits allocate more fails here, not only in a
// benchmark nobody reads.
func TestHitAllocations(t *testing.T) {
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	u, _ := url.Parse("http://127.0.0.1:1")
	norm, _ := cachekey.NewNormalizer(cachekey.Options{})
	tbl := benchPolicies(t)
	h, err := New(Options{Origin: u, Tier: mem, Policies: tbl, Normalizer: norm, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := httptest.NewRequest("GET", "http://api.example.com/api/products/42", nil)
	key := h.key(r, h.policies.Match(r))
	now := time.Now()
	e := &cache.Entry{
		Key: key, Status: 200, Body: make([]byte, 1024),
		Header: http.Header{
			"Content-Type": {"application/json"}, "Content-Length": {"1024"},
			"Cache-Control": {"public, max-age=300"}, "Etag": {`"abc"`},
			"Date": {now.UTC().Format(http.TimeFormat)},
		},
		ResponseTime: now, RequestTime: now, Lifetime: time.Hour, ETag: `"abc"`, KeepUntil: now.Add(time.Hour),
	}
	if err := mem.Set(t.Context(), key, e); err != nil {
		t.Fatal(err)
	}
	w := &discardWriter{h: make(http.Header, 16)}
	allocs := testing.AllocsPerRun(200, func() {
		w.reset()
		h.ServeHTTP(w, r)
	})
	if w.status != 200 || w.n != 1024 {
		t.Fatalf("not a hit: %d, %d bytes", w.status, w.n)
	}
	if allocs > 1 {
		t.Errorf("a hit allocates %v times, want 1 (%s)", allocs, fmt.Sprint(w.h["X-Cache"]))
	}
}
