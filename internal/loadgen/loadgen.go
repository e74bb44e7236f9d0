// Package loadgen is the bounded HTTP load generator behind
// `moat demo --load`.
//
// Run drives a closed loop of Concurrency workers for Duration. Each worker
// picks a path by a Zipf law (index 0 the most popular), sends a GET, reads
// the body to the end so its connection is reused, and records the latency
// in a histogram of its own. When time is up the workers stop, their
// histograms and counters merge into one Result, and Table prints Results
// side by side: the demo's "origin direct" and "through moat" rows.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// ErrOptions is wrapped by every error Run returns for invalid Options.
var ErrOptions = errors.New("loadgen: invalid options")

// MaxConcurrency bounds Options.Concurrency: each worker owns a fixed
// histogram of about 58 KiB.
const MaxConcurrency = 1024

// Options configures Run. BaseURL, Paths and Duration are required.
type Options struct {
	// BaseURL is the scheme and host to load, e.g. http://127.0.0.1:8080.
	BaseURL string
	// Paths are the URL paths (with query) to request, most popular first.
	Paths []string
	// ZipfS is the Zipf exponent s (> 1) of the path popularity: path i is
	// requested in proportion to (1+i)^-s. Zero means 1.1.
	ZipfS float64
	// Duration bounds the run; it must be positive.
	Duration time.Duration
	// Concurrency is the number of workers, each with one request in
	// flight (closed loop). Zero means 32; at most MaxConcurrency.
	Concurrency int
	// Seed seeds the path choices, so runs with the same Seed request the
	// same sequence from each worker.
	Seed int64
	// Client sends the requests. Nil means a client with a 5s timeout and a
	// keep-alive pool sized to Concurrency that ignores proxy environment
	// variables; Run closes its idle connections before returning.
	Client *http.Client
	// Header is added to every request. A "Host" entry sets the Host sent.
	Header http.Header
}

// Result is what a Run measured.
type Result struct {
	// Requests counts the requests that completed before the run ended,
	// Errors those of them that failed without a whole response (connection
	// refused, timeout, body cut short). HTTP error statuses are not Errors;
	// see StatusCounts.
	Requests, Errors int64
	// Duration is the measured window: Options.Duration, or less if ctx
	// ended the run sooner. RPS is Requests/Duration.
	Duration time.Duration
	RPS      float64
	// P50, P90, P99 and Max are the latencies of successful requests, from
	// sending to the last body byte, within 0.4%.
	P50, P90, P99, Max time.Duration
	// StatusCounts counts responses by status code.
	StatusCounts map[int]int64
	// Hits counts responses a cache answered: X-Cache: HIT or a
	// Cache-Status entry with the hit parameter (RFC 9211).
	Hits int64
	// HitRatio is Hits / Requests.
	HitRatio float64
}

// Run loads o.BaseURL until o.Duration has passed or ctx is done, whichever
// comes first, and returns what it measured. Every goroutine it started has
// finished when it returns. If ctx ends the run early, Run returns the
// partial Result together with ctx's error.
func Run(ctx context.Context, o Options) (Result, error) {
	urls, err := o.prepare()
	if err != nil {
		return Result{}, err
	}
	client := o.Client
	if client == nil {
		t := newTransport(o.Concurrency)
		defer t.CloseIdleConnections()
		client = &http.Client{Transport: t, Timeout: 5 * time.Second}
	}

	workers := make([]worker, o.Concurrency)
	for i := range workers {
		pcg := rand.NewPCG(uint64(o.Seed), uint64(i))
		workers[i].zipf = rand.NewZipf(rand.New(pcg), o.ZipfS, 1, uint64(len(urls)-1))
		workers[i].statuses = make(map[int]int64)
	}
	start := time.Now()
	runCtx, cancel := context.WithDeadline(ctx, start.Add(o.Duration))
	defer cancel()
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() { workers[i].run(runCtx, client, o.Header, urls) })
	}
	wg.Wait()

	// Requests still in flight at the deadline are not counted, so the
	// measured window ends there, not when the last of them gave up.
	res := merge(workers, min(time.Since(start), o.Duration))
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("loadgen: run cut short: %w", err)
	}
	return res, nil
}

// prepare applies the defaults to o, checks it, and returns the URLs to load.
func (o *Options) prepare() ([]string, error) {
	if o.ZipfS == 0 {
		o.ZipfS = 1.1
	}
	if o.Concurrency == 0 {
		o.Concurrency = 32
	}
	switch {
	case !(o.ZipfS > 1): // also rejects NaN
		return nil, fmt.Errorf("%w: ZipfS must be greater than 1, got %v", ErrOptions, o.ZipfS)
	case o.Duration <= 0:
		return nil, fmt.Errorf("%w: Duration must be positive, got %v", ErrOptions, o.Duration)
	case o.Concurrency < 0 || o.Concurrency > MaxConcurrency:
		return nil, fmt.Errorf("%w: Concurrency must be 1..%d, got %d", ErrOptions, MaxConcurrency, o.Concurrency)
	case len(o.Paths) == 0:
		return nil, fmt.Errorf("%w: Paths is empty", ErrOptions)
	}
	base, err := url.Parse(o.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("%w: BaseURL %q is not an absolute http(s) URL", ErrOptions, o.BaseURL)
	}
	urls := make([]string, len(o.Paths))
	for i, p := range o.Paths {
		urls[i] = strings.TrimSuffix(o.BaseURL, "/") + p
		if _, err := url.Parse(urls[i]); err != nil || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("%w: Paths[%d] %q is not a path starting with /", ErrOptions, i, p)
		}
	}
	return urls, nil
}

func newTransport(concurrency int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // load goes straight to BaseURL, whatever HTTP_PROXY says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
	}
}

// worker holds one worker's counters; only its own goroutine touches them
// until Run merges them after every worker has finished.
type worker struct {
	zipf                   *rand.Zipf // picks the index of the next URL
	requests, errors, hits int64
	statuses               map[int]int64
	latency                histogram
}

func (w *worker) run(ctx context.Context, client *http.Client, header http.Header, urls []string) {
	for ctx.Err() == nil {
		start := time.Now()
		status, hit, err := get(ctx, client, header, urls[w.zipf.Uint64()])
		if ctx.Err() != nil {
			return // cut off by the end of the run: neither a result nor an error
		}
		w.requests++
		if err != nil {
			w.errors++
			continue
		}
		w.latency.record(time.Since(start))
		w.statuses[status]++
		if hit {
			w.hits++
		}
	}
}

// get sends one GET and drains the body, which lets the transport reuse the
// connection.
func get(ctx context.Context, client *http.Client, header http.Header, url string) (status int, hit bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, false, err
	}
	if header != nil {
		req.Header = header.Clone()
		req.Host = header.Get("Host")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, false, err
	}
	return resp.StatusCode, isHit(resp.Header), nil
}

// isHit reports whether a cache answered: an X-Cache entry starting with HIT
// (Varnish "HIT", Squid "HIT from host", Fastly "MISS, HIT") or a
// Cache-Status member with the hit parameter (RFC 9211 section 2.1). Any
// cache in the chain counts: the origin was spared either way.
func isHit(h http.Header) bool {
	for _, v := range h.Values("X-Cache") {
		for entry := range strings.SplitSeq(v, ",") {
			if word, _, _ := strings.Cut(strings.TrimSpace(entry), " "); strings.EqualFold(word, "HIT") {
				return true
			}
		}
	}
	for _, v := range h.Values("Cache-Status") {
		for member := range strings.SplitSeq(v, ",") {
			_, params, _ := strings.Cut(member, ";")
			for p := range strings.SplitSeq(params, ";") {
				if strings.EqualFold(strings.TrimSpace(p), "hit") {
					return true
				}
			}
		}
	}
	return false
}

func merge(workers []worker, elapsed time.Duration) Result {
	res := Result{Duration: elapsed, StatusCounts: make(map[int]int64)}
	var latency histogram
	for i := range workers {
		w := &workers[i]
		res.Requests += w.requests
		res.Errors += w.errors
		res.Hits += w.hits
		for status, n := range w.statuses {
			res.StatusCounts[status] += n
		}
		latency.merge(&w.latency)
	}
	if elapsed > 0 {
		res.RPS = float64(res.Requests) / elapsed.Seconds()
	}
	if res.Requests > 0 {
		res.HitRatio = float64(res.Hits) / float64(res.Requests)
	}
	res.P50, res.P90, res.P99 = latency.quantile(0.50), latency.quantile(0.90), latency.quantile(0.99)
	res.Max = latency.max
	return res
}

// ZipfPaths returns n paths made by formatting the numbers 1..n with format,
// most popular first: ZipfPaths("/api/products/%d", 3) is
// ["/api/products/1" "/api/products/2" "/api/products/3"].
func ZipfPaths(format string, n int) []string {
	paths := make([]string, max(n, 0))
	for i := range paths {
		paths[i] = fmt.Sprintf(format, i+1)
	}
	return paths
}
