package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// newCacheServer answers /hit as a cache hit and /miss as a miss.
func newCacheServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hit":
			w.Header().Set("X-Cache", "HIT")
		case "/miss":
			w.Header().Set("X-Cache", "MISS")
		default:
			http.NotFound(w, r)
			return
		}
		w.Write(bytes.Repeat([]byte("x"), 512))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runEnough runs o, lengthening Duration when a loaded machine completed
// fewer than min requests, so the statistical checks have a sample.
func runEnough(t *testing.T, o Options, min int64) Result {
	t.Helper()
	for {
		got, err := Run(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if got.Requests >= min || o.Duration >= 5*time.Second {
			return got
		}
		t.Logf("only %d requests in %v; running longer", got.Requests, o.Duration)
		o.Duration *= 4
	}
}

func TestRunHitRatio(t *testing.T) {
	srv := newCacheServer(t)
	tests := []struct {
		name  string
		zipfS float64
		want  float64 // P(path 0) = 1 / (1 + 2^-s) for two paths
	}{
		{"default_s", 0, 1 / (1 + math.Pow(2, -1.1))},
		{"steep_s", 3, 1 / (1 + math.Pow(2, -3))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{BaseURL: srv.URL, Paths: []string{"/hit", "/miss"}, ZipfS: tt.zipfS, Duration: 300 * time.Millisecond, Concurrency: 4, Seed: 1}
			got := runEnough(t, o, 200)
			if got.Requests < 200 || got.Errors != 0 {
				t.Fatalf("got %d requests, %d errors; want >= 200 and 0", got.Requests, got.Errors)
			}
			// Four standard deviations of a binomial proportion, plus slack
			// for the requests cut off at the deadline.
			tolerance := 4*math.Sqrt(tt.want*(1-tt.want)/float64(got.Requests)) + 0.01
			if math.Abs(got.HitRatio-tt.want) > tolerance {
				t.Errorf("hit ratio: got %.3f over %d requests, want %.3f ± %.3f", got.HitRatio, got.Requests, tt.want, tolerance)
			}
			if got.StatusCounts[200] != got.Requests || len(got.StatusCounts) != 1 {
				t.Errorf("status counts: got %v, want all %d 200", got.StatusCounts, got.Requests)
			}
			if !(0 < got.P50 && got.P50 <= got.P90 && got.P90 <= got.P99 && got.P99 <= got.Max) {
				t.Errorf("percentiles out of order: p50 %v p90 %v p99 %v max %v", got.P50, got.P90, got.P99, got.Max)
			}
			if got.Duration < 300*time.Millisecond || got.Duration > 5*time.Second {
				t.Errorf("duration: got %v, want the configured one", got.Duration)
			}
			if want := float64(got.Requests) / got.Duration.Seconds(); math.Abs(got.RPS-want) > 1e-6*want {
				t.Errorf("RPS: got %v, want %v", got.RPS, want)
			}
		})
	}
}

func TestRunCountsConnectionErrors(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close() // nothing listens any more: every request fails to connect
	got := runEnough(t, Options{BaseURL: srv.URL, Paths: []string{"/a", "/b"}, Duration: 300 * time.Millisecond, Concurrency: 4}, 1)
	if got.Errors == 0 || got.Errors != got.Requests {
		t.Errorf("got %d errors of %d requests, want all of at least one", got.Errors, got.Requests)
	}
	if len(got.StatusCounts) != 0 || got.Hits != 0 || got.P50 != 0 {
		t.Errorf("failed requests leaked into the results: statuses %v, hits %d, p50 %v", got.StatusCounts, got.Hits, got.P50)
	}
}

func TestRunNoGoroutineLeak(t *testing.T) {
	live, dead := newCacheServer(t), httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	before := runtime.NumGoroutine()
	for _, url := range []string{live.URL, dead.URL} {
		if _, err := Run(t.Context(), Options{BaseURL: url, Paths: []string{"/hit", "/miss"}, Duration: 100 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
	}
	// Connections closed by Run end their goroutines, client and server
	// side, a moment later.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}

// cancellingServer answers like newCacheServer's /hit, calls cancel once it
// has served n requests, and reports each request to seen.
func cancellingServer(t *testing.T, n int64, cancel func(), seen func(*http.Request)) *httptest.Server {
	t.Helper()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen(r)
		w.Header().Set("X-Cache", "HIT")
		if served.Add(1) == n {
			cancel()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srv := cancellingServer(t, 50, cancel, func(*http.Request) {})
	start := time.Now()
	got, err := Run(ctx, Options{BaseURL: srv.URL, Paths: []string{"/hit"}, Duration: time.Minute, Concurrency: 4})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error: got %v, want context.Canceled", err)
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("Run took %v: it did not stop at the cancel", elapsed)
	}
	// At least the requests sent before the 47th response, when at most 3
	// others were in flight, completed before the cancel.
	if got.Requests < 46 || got.Requests > 50 || got.HitRatio != 1 || got.Duration >= time.Minute {
		t.Errorf("partial result: got %d requests, hit ratio %v, duration %v; want 46..50, 1, under a minute", got.Requests, got.HitRatio, got.Duration)
	}
}

func TestRunSendsHeaders(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := cancellingServer(t, 5, cancel, func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen[r.Host+" "+r.Header.Get("X-User")+" "+r.URL.RequestURI()] = true
	})
	_, err := Run(ctx, Options{
		BaseURL:     srv.URL + "/",
		Paths:       []string{"/api/products?page=1"},
		Duration:    time.Minute,
		Concurrency: 2,
		Header:      http.Header{"X-User": {"alice"}, "Host": {"shop.example"}},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error: got %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := "shop.example alice /api/products?page=1"; len(seen) != 1 || !seen[want] {
		t.Errorf("requests seen: got %v, want only %q", seen, want)
	}
}

func TestRunRejectsInvalidOptions(t *testing.T) {
	valid := Options{BaseURL: "http://127.0.0.1:1", Paths: []string{"/"}, Duration: time.Second}
	tests := []struct {
		name, field string
		change      func(*Options)
	}{
		{"no_duration", "Duration", func(o *Options) { o.Duration = 0 }},
		{"no_paths", "Paths", func(o *Options) { o.Paths = nil }},
		{"relative_path", "Paths[0]", func(o *Options) { o.Paths = []string{"api"} }},
		{"bad_base_url", "BaseURL", func(o *Options) { o.BaseURL = "127.0.0.1:8080" }},
		{"zipf_s_one", "ZipfS", func(o *Options) { o.ZipfS = 1 }},
		{"zipf_s_nan", "ZipfS", func(o *Options) { o.ZipfS = math.NaN() }},
		{"negative_concurrency", "Concurrency", func(o *Options) { o.Concurrency = -1 }},
		{"huge_concurrency", "Concurrency", func(o *Options) { o.Concurrency = MaxConcurrency + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid
			tt.change(&o)
			_, err := Run(t.Context(), o)
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("got %v, want ErrOptions naming %s", err, tt.field)
			}
		})
	}
}

func TestIsHit(t *testing.T) {
	tests := []struct {
		name   string
		header http.Header
		want   bool
	}{
		{"none", http.Header{}, false},
		{"x_cache_hit", http.Header{"X-Cache": {"HIT"}}, true},
		{"x_cache_lower", http.Header{"X-Cache": {"hit"}}, true},
		{"x_cache_squid", http.Header{"X-Cache": {"HIT from proxy.example"}}, true},
		{"x_cache_chain", http.Header{"X-Cache": {"MISS, HIT"}}, true},
		{"x_cache_miss", http.Header{"X-Cache": {"MISS"}}, false},
		{"x_cache_hitch", http.Header{"X-Cache": {"HITCH"}}, false},
		{"cache_status_hit", http.Header{"Cache-Status": {"moat; hit"}}, true},
		{"cache_status_hit_ttl", http.Header{"Cache-Status": {"moat;hit;ttl=30"}}, true},
		{"cache_status_chain", http.Header{"Cache-Status": {"OriginCache; fwd=miss, moat; hit"}}, true},
		{"cache_status_miss", http.Header{"Cache-Status": {"moat; fwd=uri-miss; stored"}}, false},
		{"cache_status_hit_false", http.Header{"Cache-Status": {"moat; hit=?0"}}, false},
		{"cache_status_named_hit", http.Header{"Cache-Status": {"hit; fwd=miss"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isHit(tt.header); got != tt.want {
				t.Errorf("isHit(%v): got %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func FuzzIsHit(f *testing.F) {
	for _, s := range []string{"HIT", "moat; hit", "a;b, c; hit=?0", ";;,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		isHit(http.Header{"X-Cache": {s}, "Cache-Status": {s}})
		if !isHit(http.Header{"X-Cache": {"HIT"}, "Cache-Status": {s}}) {
			t.Error("X-Cache: HIT not seen beside Cache-Status", s)
		}
	})
}

func TestTable(t *testing.T) {
	rows := []Row{
		{Name: "origin direct", Result: Result{RPS: 1230.4, P50: 38_140 * time.Microsecond, P99: 49_800 * time.Microsecond}, OriginRequests: 12_300},
		{Name: "through moat", Result: Result{RPS: 41_000, P50: 400 * time.Microsecond, P99: 2100 * time.Microsecond, HitRatio: 0.9921, Requests: 410_000, Errors: 12}, OriginRequests: 310, ShowHitRatio: true},
	}
	var b strings.Builder
	Table(&b, rows)
	out := b.String()
	for _, want := range []string{"requests/s", "origin requests", "origin direct", "through moat", "1,230", "38.1ms", "49.8ms", "12,300", "41,000", "0.4ms", "2.1ms", "99.2%", "310", "12 of 410,000 requests failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[1], " - ") {
		t.Errorf("origin direct row shows a hit ratio: %q", lines[1])
	}
	for _, l := range lines[1:3] {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("row not aligned with the header:\n%q\n%q", lines[0], l)
		}
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{thousands(0), "0"},
		{thousands(999), "999"},
		{thousands(1000), "1,000"},
		{thousands(1234567), "1,234,567"},
		{thousands(-1234), "-1,234"},
		{latency(0), "0µs"},
		{latency(85 * time.Microsecond), "85µs"},
		{latency(400 * time.Microsecond), "0.4ms"},
		{latency(38_140 * time.Microsecond), "38.1ms"},
		{latency(12 * time.Second), "12.0s"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestZipfPaths(t *testing.T) {
	got := ZipfPaths("/api/products/%d", 3)
	if want := []string{"/api/products/1", "/api/products/2", "/api/products/3"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := ZipfPaths("/%d", -1); len(got) != 0 {
		t.Errorf("negative n: got %q, want none", got)
	}
}

func ExampleTable() {
	Table(os.Stdout, []Row{
		{Name: "origin direct", Result: Result{RPS: 1230, P50: 38_100 * time.Microsecond, P99: 49_800 * time.Microsecond}, OriginRequests: 12_300},
		{Name: "through moat", Result: Result{RPS: 41_000, P50: 400 * time.Microsecond, P99: 2100 * time.Microsecond, HitRatio: 0.992}, OriginRequests: 310, ShowHitRatio: true},
	})
	// Output:
	//                  requests/s       p50       p99   hit ratio   origin requests
	//   origin direct        1,230    38.1ms    49.8ms           -            12,300
	//   through moat        41,000     0.4ms     2.1ms       99.2%               310
}

func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Cache", "HIT")
	}))
	defer srv.Close()
	res, err := Run(context.Background(), Options{
		BaseURL:  srv.URL,
		Paths:    ZipfPaths("/api/products/%d", 100),
		Duration: 100 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	// The numbers depend on the machine, so this example shows no output.
	fmt.Printf("%.0f requests/s, p99 %v, hit ratio %.1f%%\n", res.RPS, res.P99, 100*res.HitRatio)
}
