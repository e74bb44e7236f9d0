package tracing

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/moatproxy/moat/gateway"
)

// Span attributes the Observer sets.
const (
	AttrCacheResult = attribute.Key("moat.cache.result") // hit, miss, stale, revalidated, bypass
	AttrRoute       = attribute.Key("moat.route")        // the matched route pattern; absent when none matched
)

// spanName is the name of a request's span until its route is known.
const spanName = "moat"

// Middleware wraps next (the gateway) so that every sampled request runs
// in a server span, continuing the W3C trace context (traceparent) of the
// request if it has one. With tracing off it returns next itself.
//
// WARNING: the sampler follows the parent's decision, so a client that
// sends "traceparent: 00-...-01" is always traced whatever Config.Sample
// says. On a gateway open to untrusted clients, that is a way to make
// moat record and export a span for every request they send.
func (t *Tracing) Middleware(next http.Handler) http.Handler {
	if !t.enabled() {
		return next
	}
	traced := otelhttp.NewHandler(next, spanName,
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.propagator),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()), // Prometheus has the metrics
		otelhttp.WithSpanNameFormatter(func(operation string, _ *http.Request) string { return operation }),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.sampled(r) {
			traced.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sampled decides, before otelhttp runs, whether r is traced: the parent's
// decision if r carries a valid traceparent, else a draw at the configured
// ratio (the provider's sampler then records every span it is given).
//
// Deciding here, not in the SDK's sampler, is for speed: otelhttp costs
// about 9µs and 32 allocations per request even for a span it does not
// record (three times a cache hit), and at the default 1% almost every
// request is one. A request not sampled gets no span at all, which is the
// same to everyone: moat makes no outgoing spans a non-recording parent
// would have to carry (the client's traceparent reaches the origin as it
// came).
func (t *Tracing) sampled(r *http.Request) bool {
	if _, ok := r.Header["Traceparent"]; ok {
		ctx := t.propagator.Extract(context.Background(), propagation.HeaderCarrier(r.Header))
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			return sc.IsSampled()
		}
	}
	return rand.Float64() < t.ratio
}

// Observer returns the gateway.Observer that puts the cache result and the
// route on the request's span. Origin events are not traced. Give the
// gateway both it and the metrics with Join.
func (t *Tracing) Observer() gateway.Observer {
	if !t.enabled() {
		return nopObserver{}
	}
	return spanObserver{}
}

type spanObserver struct{}

var _ gateway.Observer = spanObserver{}

func (spanObserver) Request(r *http.Request, route string, result gateway.Result, _ time.Duration) {
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return // not sampled, or no Middleware in front
	}
	if route == "" {
		span.SetAttributes(AttrCacheResult.String(result.String()))
		return
	}
	span.SetAttributes(
		AttrCacheResult.String(result.String()),
		AttrRoute.String(route),
		semconv.HTTPRoute(routePath(route)),
	)
	span.SetName(spanName + " " + route)
}

func (spanObserver) Origin(string, int, time.Duration, error) {}

// routePath is the path template of a route pattern ("GET /a/{id}" is
// "/a/{id}"), the form the http.route attribute takes.
func routePath(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		return pattern[i:]
	}
	return pattern
}

type nopObserver struct{}

func (nopObserver) Request(*http.Request, string, gateway.Result, time.Duration) {}
func (nopObserver) Origin(string, int, time.Duration, error)                     {}

// Join returns an Observer that passes every event to each of obs in turn
// (nil ones, and the Observer of tracing that is off, are skipped). With a single non-nil observer it returns that
// observer itself.
//
// WARNING: the gateway finds its gateway.LookupObserver by a type assertion
// on Options.Observer. The joined observer implements Lookup and forwards
// it to those of obs that implement it; a combinator that did not would
// silently stop moat_cache_lookup_duration_seconds.
func Join(obs ...gateway.Observer) gateway.Observer {
	var j joined
	for _, o := range obs {
		if _, nop := o.(nopObserver); nop || o == nil {
			continue
		}
		j.all = append(j.all, o)
		if l, ok := o.(gateway.LookupObserver); ok {
			j.lookup = append(j.lookup, l)
		}
	}
	switch len(j.all) {
	case 0:
		return nopObserver{}
	case 1:
		return j.all[0]
	}
	return j
}

type joined struct {
	all    []gateway.Observer
	lookup []gateway.LookupObserver
}

var _ gateway.LookupObserver = joined{}

func (j joined) Request(r *http.Request, route string, result gateway.Result, d time.Duration) {
	for _, o := range j.all {
		o.Request(r, route, result, d)
	}
}

func (j joined) Origin(route string, status int, d time.Duration, err error) {
	for _, o := range j.all {
		o.Origin(route, status, d, err)
	}
}

func (j joined) Lookup(d time.Duration) {
	for _, l := range j.lookup {
		l.Lookup(d)
	}
}
