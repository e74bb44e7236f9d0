// Package warm fills moat's cache before clients ask: it requests a list of
// URLs through the gateway, so that the gateway fetches and stores them, at
// a bounded concurrency and rate.
//
//	Load(--from) ─▶ FromURLFile | FromSitemap | FromHotkeys ─▶ request targets
//	Run ─▶ pacer (token bucket) ─▶ Concurrency workers ─▶ GET BaseURL+target
//	    ─▶ body read fully (a partly read body may not be stored)
//	    ─▶ Summary: status, X-Cache: HIT, Cache-Status "stored"; progress line
//
// Requests go through the gateway, never to the origin, and a key includes
// the scheme and Host the gateway sees: warming through
// http://127.0.0.1:8080 fills the keys of clients that send the same Host,
// so set Options.Header's Host to the one clients send. Likewise for request
// headers a route varies on (Accept-Encoding: Go sends "gzip" unless told
// otherwise).
package warm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure Run. Only BaseURL is required.
type Options struct {
	// BaseURL is the gateway to warm through, such as http://127.0.0.1:8080;
	// request targets are appended to it (a path in it is a prefix).
	BaseURL string
	// Concurrency is the most requests in flight. Default 8.
	Concurrency int
	// Rate is the most requests started per second; 0 is unlimited. It is
	// kept exactly over a run (10,000 requests at 500/s take 20s), with
	// bursts of at most 10ms' worth of requests.
	Rate float64
	// Timeout bounds each request, body included. Default 10s.
	Timeout time.Duration
	// Header is sent with every request; a Host field sets the Host.
	Header http.Header
	// Client sends the requests. Default: a client of its own that connects
	// directly (no HTTP_PROXY), keeps Concurrency connections alive, does
	// not follow redirects (a 3xx is counted as such) and closes its
	// connections when Run returns. A given Client should not follow
	// redirects either, or a redirect's target is warmed in its place.
	Client *http.Client
	// Progress receives a progress line, redrawn with \r at most 10 times a
	// second and ended with a newline. Nil draws none. Pass a terminal, not
	// a log file.
	Progress io.Writer
	// Logger receives the first failures at Warn level and the rest at
	// Debug. Default: none.
	Logger *slog.Logger
}

// Summary counts the outcome of a Run.
type Summary struct {
	Planned  int64         // targets given to Run
	Total    int64         // requests finished: OK + Failed (fewer than Planned if canceled)
	OK       int64         // responses with a status below 400, read fully
	Failed   int64         // responses with a status of 400 or more, and Errors
	Errors   int64         // requests with no complete response: connection, timeout, body
	Hits     int64         // responses the gateway answered from cache (X-Cache: HIT)
	Stored   int64         // responses the gateway stored (Cache-Status: ...; stored)
	Bytes    int64         // body bytes read
	ByStatus map[int]int64 // responses read fully, by status code
	Duration time.Duration
	Rate     float64 // Total per second of Duration
}

const (
	defaultConcurrency = 8
	defaultTimeout     = 10 * time.Second
	warnFailures       = 10 // failures logged at Warn before switching to Debug
)

// Run requests every target in paths (an origin-form request target:
// "/path?query") through o.BaseURL with GET, and returns what happened.
// Failed requests are counted, not returned: the error is for invalid
// options, or ctx's error when ctx ended first, with the partial Summary.
// Every goroutine Run starts has finished when it returns.
func Run(ctx context.Context, o Options, paths []string) (Summary, error) {
	base, err := o.validate()
	if err != nil {
		return Summary{}, err
	}
	client := o.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		tr.MaxIdleConnsPerHost = o.Concurrency
		defer tr.CloseIdleConnections()
		client = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}

	w := &warmer{o: o, base: base, client: client, byStatus: map[int]int64{}, start: time.Now()}
	w.planned = int64(len(paths))

	var progress *progressLine
	if o.Progress != nil {
		progress = startProgress(o.Progress, w)
	}

	jobs := make(chan string)
	var wg sync.WaitGroup
	for range min(o.Concurrency, len(paths)) {
		wg.Go(func() {
			for p := range jobs {
				w.fetch(ctx, p)
			}
		})
	}
	pace := newPacer(o.Rate)
dispatch:
	for _, p := range paths {
		if pace.wait(ctx) != nil {
			break
		}
		select {
		case jobs <- p:
		case <-ctx.Done():
			break dispatch
		}
	}
	close(jobs)
	wg.Wait()

	s := w.summary(time.Since(w.start))
	progress.stop(s, ctx.Err() != nil)
	return s, ctx.Err()
}

func (o *Options) validate() (string, error) {
	u, err := url.Parse(o.BaseURL)
	switch {
	case o.BaseURL == "":
		return "", errors.New("warm: Options.BaseURL is required")
	case err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return "", fmt.Errorf("warm: Options.BaseURL %q: want http(s)://host[:port]", o.BaseURL)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("warm: Options.BaseURL %q: want no query or fragment", o.BaseURL)
	case o.Concurrency < 0:
		return "", fmt.Errorf("warm: Options.Concurrency %d is negative", o.Concurrency)
	case o.Rate < 0 || math.IsNaN(o.Rate) || math.IsInf(o.Rate, 0):
		return "", fmt.Errorf("warm: Options.Rate %v: want requests per second, or 0 for unlimited", o.Rate)
	case o.Timeout < 0:
		return "", fmt.Errorf("warm: Options.Timeout %v is negative", o.Timeout)
	}
	if o.Concurrency == 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	return strings.TrimSuffix(o.BaseURL, "/"), nil
}

// warmer holds one Run's shared state.
type warmer struct {
	o       Options
	base    string
	client  *http.Client
	start   time.Time
	planned int64

	ok, failed, errs, hits, stored, bytes atomic.Int64

	mu       sync.Mutex
	byStatus map[int]int64
}

// done is the number of requests finished, for the progress line.
func (w *warmer) done() int64 { return w.ok.Load() + w.failed.Load() }

func (w *warmer) fetch(runCtx context.Context, target string) {
	ctx, cancel := context.WithTimeout(runCtx, w.o.Timeout)
	defer cancel()
	fail := func(status int, err error) {
		if err != nil && runCtx.Err() != nil {
			return // cut short by the end of the run: not counted
		}
		w.fail(target, status, err)
	}
	if !strings.HasPrefix(target, "/") {
		fail(0, fmt.Errorf("request target %q does not start with /", target))
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.base+target, nil)
	if err != nil {
		fail(0, err)
		return
	}
	if w.o.Header != nil {
		req.Header = w.o.Header.Clone()
		if host := req.Header.Get("Host"); host != "" {
			req.Host = host
			req.Header.Del("Host")
		}
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", "moat-warm")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		fail(0, err)
		return
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	w.bytes.Add(n)
	if err != nil {
		fail(resp.StatusCode, err)
		return
	}

	w.mu.Lock()
	w.byStatus[resp.StatusCode]++
	w.mu.Unlock()
	if strings.EqualFold(resp.Header.Get("X-Cache"), "HIT") {
		w.hits.Add(1)
	}
	if cacheStatusStored(resp.Header.Values("Cache-Status")) {
		w.stored.Add(1)
	}
	if resp.StatusCode >= 400 {
		fail(resp.StatusCode, nil)
		return
	}
	w.ok.Add(1)
}

// fail counts and logs a failed request.
func (w *warmer) fail(target string, status int, err error) {
	n := w.failed.Add(1)
	if err != nil {
		w.errs.Add(1)
	}
	level := slog.LevelWarn
	if n > warnFailures {
		level = slog.LevelDebug
	}
	w.o.Logger.Log(context.Background(), level, "warm-up request failed", "url", target, "status", status, "err", err)
	if n == warnFailures {
		w.o.Logger.Warn("further warm-up failures are logged at debug level")
	}
}

func (w *warmer) summary(d time.Duration) Summary {
	s := Summary{
		Planned: w.planned, OK: w.ok.Load(), Failed: w.failed.Load(), Errors: w.errs.Load(),
		Hits: w.hits.Load(), Stored: w.stored.Load(), Bytes: w.bytes.Load(), Duration: d,
	}
	s.Total = s.OK + s.Failed
	w.mu.Lock()
	s.ByStatus = make(map[int]int64, len(w.byStatus))
	for k, v := range w.byStatus {
		s.ByStatus[k] = v
	}
	w.mu.Unlock()
	if d > 0 {
		s.Rate = float64(s.Total) / d.Seconds()
	}
	return s
}

// cacheStatusStored reports whether a Cache-Status field (RFC 9211) has a
// member with the "stored" parameter (§2.5), true unless "stored=?0".
func cacheStatusStored(values []string) bool {
	for _, v := range values {
		for member := range strings.SplitSeq(v, ",") {
			_, params, _ := strings.Cut(member, ";")
			for param := range strings.SplitSeq(params, ";") {
				name, val, _ := strings.Cut(strings.TrimSpace(param), "=")
				if name == "stored" && val != "?0" {
					return true
				}
			}
		}
	}
	return false
}
