package gateway

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// Result is how the cache answered a request.
type Result uint8

// Results, in the order of ResultNames.
const (
	ResultHit         Result = iota // served from cache without the origin
	ResultMiss                      // fetched from the origin for the cache
	ResultStale                     // served stale (stale-while-revalidate, stale-if-error, origin busy)
	ResultRevalidated               // a stale entry confirmed by the origin (304)
	ResultBypass                    // forwarded without the cache
	ResultPartial                   // partly from cache, partly from the origin (GraphQL)
	NumResults
)

// ResultNames name the results in metrics and logs.
var ResultNames = [NumResults]string{"hit", "miss", "stale", "revalidated", "bypass", "partial"}

func (r Result) String() string { return ResultNames[r] }

// Observer receives per-request and per-origin-request events, e.g. for
// metrics. Implementations must be safe for concurrent use and quick: they
// run on the request path.
type Observer interface {
	// Request is called once per client request after it was answered;
	// route is the matched pattern ("" for none). r is the client's request
	// (its context carries e.g. a tracing span).
	Request(r *http.Request, route string, result Result, d time.Duration)
	// Origin is called once per origin round trip (the wait for the
	// response header), with the status or the error.
	Origin(route string, status int, d time.Duration, err error)
}

// LookupObserver, if the Observer also implements it, receives the
// duration of a sample (1 in 64) of tier lookups.
type LookupObserver interface {
	Lookup(d time.Duration)
}

// timedGet is Tier.Get, timed for a sample of lookups.
func (h *Handler) timedGet(ctx context.Context, key string) (*cache.Entry, error) {
	if h.lookupObs == nil || rand.Uint32()&63 != 0 {
		return h.tier.Get(ctx, key)
	}
	start := time.Now()
	e, err := h.tier.Get(ctx, key)
	h.lookupObs.Lookup(time.Since(start))
	return e, err
}

// outcome is what serve reports about one request.
type outcome struct {
	result Result
	key    string
	origin time.Duration
}

// serveObserved is ServeHTTP with timing, the Observer and the sampled
// access log: serve answers r and records how in its outcome.
func (h *Handler) serveObserved(w http.ResponseWriter, r *http.Request, pol *policy.Policy, serve func(http.ResponseWriter, *outcome)) {
	start, rec, w := h.observeStart(w)
	var o outcome
	serve(w, &o)
	h.observeEnd(r, pol, start, rec, &o)
}

// observeStart begins what serveObserved does around serve: the clock, and
// the status recorder of a request the access log samples (w is then the
// recorder).
func (h *Handler) observeStart(w http.ResponseWriter) (time.Time, *statusRecorder, http.ResponseWriter) {
	var rec *statusRecorder
	if h.accessLog != nil && (h.accessSample >= 1 || rand.Float64() < h.accessSample) {
		rec = &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		w = rec
	}
	return time.Now(), rec, w
}

// observeEnd reports a request that observeStart began to the Observer and
// the access log.
func (h *Handler) observeEnd(r *http.Request, pol *policy.Policy, start time.Time, rec *statusRecorder, o *outcome) {
	d := time.Since(start)
	route := ""
	if pol != nil {
		route = pol.Pattern
	}
	if h.obs != nil {
		h.obs.Request(r, route, o.result, d)
	}
	if rec != nil {
		logRoute := route
		if logRoute == "" {
			logRoute = NoRoute
		}
		attrs := make([]slog.Attr, 0, 16)
		attrs = append(attrs,
			slog.String("method", r.Method),
			slog.String("path", r.URL.RequestURI()),
			slog.String("proto", r.Proto),
			slog.Int("status", rec.status),
			slog.String("route", logRoute),
			slog.String("cache", o.result.String()),
			slog.Int64("bytes", rec.bytes),
			slog.Float64("dur_ms", float64(d.Microseconds())/1000),
			slog.String("remote", h.ClientAddr(r)),
			slog.String("host", r.Host),
		)
		for _, f := range [...]struct{ name, key string }{{"User-Agent", "user_agent"}, {"Referer", "referer"}, {"X-Forwarded-For", "xff"}} {
			if v := r.Header.Get(f.name); v != "" {
				attrs = append(attrs, slog.String(f.key, v))
			}
		}
		if o.key != "" {
			attrs = append(attrs, slog.String("key", keyHash(o.key)))
		}
		if o.origin > 0 {
			attrs = append(attrs, slog.Float64("origin_ms", float64(o.origin.Microseconds())/1000))
		}
		h.accessLog.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	}
}

// NoRoute names requests of no route in the access log (as in metrics).
const NoRoute = "(no route)"

// keyHash is the short form of a key for logs: it identifies the entry
// without writing URLs (which may carry personal data) into every line.
func keyHash(key string) string {
	return strconv.FormatUint(xxhash.Sum64String(key), 16)
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader && code >= 200 {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
