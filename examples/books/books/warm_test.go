package books

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestWarmPathsThenHits: what WarmPaths names, warmed through the API, is
// answered from the cache afterwards.
func TestWarmPathsThenHits(t *testing.T) {
	store := openStore(t, seeded(t, small))
	a := newApp(t, store, &CacheOptions{})
	paths, err := WarmPaths(context.Background(), store, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	// 3 pages, 5 books, and their authors (5 at most).
	if len(paths) < 3+5+1 || len(paths) > 3+5+5 || paths[0] != "/books?page=1" {
		t.Fatalf("WarmPaths = %v", paths)
	}
	most, _, err := store.MostReviewed(context.Background(), 1)
	if err != nil || paths[3] != bookPath(most[0]) {
		t.Errorf("paths[3] = %q; want the most reviewed book, %v (%v)", paths[3], most, err)
	}
	res, err := Warm(context.Background(), WarmOptions{BaseURL: a.url, Rate: 10_000}, paths)
	if err != nil || res.OK != len(paths) || res.Failed != 0 {
		t.Fatalf("Warm = %+v, %v; want %d ok", res, err, len(paths))
	}
	f := &fixture{app: a}
	f.hits(t, paths...)

	if _, err := WarmPaths(context.Background(), store, MaxWarmPages+1, 0); !errors.Is(err, ErrWarmOptions) {
		t.Errorf("WarmPaths past the bound: %v; want ErrWarmOptions", err)
	}
}

// TestWarmIsRateLimited: Warm starts at most Rate requests a second and
// runs at most Concurrency at once.
func TestWarmIsRateLimited(t *testing.T) {
	var inFlight, most, served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		served.Add(1)
	}))
	t.Cleanup(srv.Close)
	paths := make([]string, 11)
	for i := range paths {
		paths[i] = "/x"
	}
	const rate = 50 // 20ms apart: 11 paths take at least 200ms
	start := time.Now()
	res, err := Warm(context.Background(), WarmOptions{BaseURL: srv.URL, Rate: rate, Concurrency: 2}, paths)
	took := time.Since(start)
	if err != nil || res.OK != len(paths) || served.Load() != int64(len(paths)) {
		t.Fatalf("Warm = %+v, %v, served %d; want %d ok", res, err, served.Load(), len(paths))
	}
	if min := time.Duration(len(paths)-1) * time.Second / rate; took < min {
		t.Errorf("Warm took %v for %d paths at %d/s; want at least %v", took, len(paths), rate, min)
	}
	if most.Load() > 2 {
		t.Errorf("%d requests at once; want at most 2", most.Load())
	}
	for _, o := range []WarmOptions{{BaseURL: "ftp://x"}, {BaseURL: srv.URL, Rate: -1}, {BaseURL: srv.URL, Concurrency: 65}} {
		if _, err := Warm(context.Background(), o, paths); !errors.Is(err, ErrWarmOptions) {
			t.Errorf("Warm(%+v) = %v; want ErrWarmOptions", o, err)
		}
	}
}
