// Package metrics exports moat's counters to Prometheus and keeps the
// per-route figures the admin API and dashboard show.
//
// Everything registers on an injected prometheus.Registerer (never the
// global one). Labels are low-cardinality: route patterns (never raw URLs),
// cache results, status classes, causes.
//
// Request and origin events arrive through the gateway.Observer methods;
// the counters the components keep themselves (gateway.Stats,
// cache.MemoryStats, fan-out stats) are read at scrape time by func
// collectors, so the hot path pays for nothing twice.
package metrics

import (
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/moatproxy/moat/gateway"
)

// NoRoute names requests that match no route.
const NoRoute = "(no route)"

// latencyBuckets cover 50µs hits to 30s origin timeouts.
var latencyBuckets = []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics implements gateway.Observer.
type Metrics struct {
	state   atomic.Pointer[routeSet] // replaced whole by SetRoutes
	mu      sync.Mutex               // serializes SetRoutes
	reqs    *prometheus.CounterVec
	dur     *prometheus.HistogramVec
	origin  *prometheus.CounterVec
	oDur    *prometheus.HistogramVec
	oErrors *prometheus.CounterVec
	lookup  prometheus.Observer
	started time.Time
}

// routeSet is the routes of one configuration, read without a lock.
type routeSet struct {
	routes map[string]*route
	names  []string
}

type route struct {
	results [gateway.NumResults]prometheus.Counter
	dur     prometheus.Histogram
	oDur    prometheus.Observer
	oErrors prometheus.Counter
	oClass  [6]prometheus.Counter // 1xx..5xx, index 0 unused
}

var _ gateway.Observer = (*Metrics)(nil)

// New registers the request and origin metrics for the given route
// patterns on reg.
func New(reg prometheus.Registerer, patterns []string) *Metrics {
	m := &Metrics{
		reqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_requests_total", Help: "Client requests by route and cache result (hit, miss, stale, revalidated, bypass).",
		}, []string{"route", "result"}),
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_request_duration_seconds", Help: "Time to answer client requests, by route.", Buckets: latencyBuckets,
		}, []string{"route"}),
		origin: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_origin_requests_total", Help: "Origin round trips by route and status class.",
		}, []string{"route", "code"}),
		oDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "moat_origin_duration_seconds", Help: "Time until the origin's response header, by route.", Buckets: latencyBuckets,
		}, []string{"route"}),
		oErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_origin_errors_total", Help: "Origin round trips that failed (refused, reset, timed out), by route.",
		}, []string{"route"}),
		started: time.Now(),
	}
	lookups := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "moat_cache_lookup_duration_seconds", Help: "Duration of a sample (1 in 64) of cache lookups, by tier.",
		Buckets: []float64{25e-9, 50e-9, 100e-9, 250e-9, 500e-9, 1e-6, 5e-6, 25e-6, 100e-6, 1e-3, 10e-3},
	}, []string{"tier"})
	m.lookup = lookups.WithLabelValues("l1")
	reg.MustRegister(m.reqs, m.dur, m.origin, m.oDur, m.oErrors, lookups)
	m.SetRoutes(patterns)
	return m
}

// SetRoutes makes patterns the routes requests are counted by (a reload):
// the series of routes it keeps go on, those of routes it drops are
// deleted.
func (m *Metrics) SetRoutes(patterns []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev := m.state.Load()
	next := &routeSet{routes: map[string]*route{}}
	for _, p := range append([]string{NoRoute}, patterns...) {
		if _, dup := next.routes[p]; dup {
			continue
		}
		rt := (*route)(nil)
		if prev != nil {
			rt = prev.routes[p]
		}
		if rt == nil {
			rt = &route{dur: m.dur.WithLabelValues(p).(prometheus.Histogram), oDur: m.oDur.WithLabelValues(p), oErrors: m.oErrors.WithLabelValues(p)}
			for i := range rt.results {
				rt.results[i] = m.reqs.WithLabelValues(p, gateway.ResultNames[i])
			}
			for c := 1; c <= 5; c++ {
				rt.oClass[c] = m.origin.WithLabelValues(p, string(rune('0'+c))+"xx")
			}
		}
		next.routes[p] = rt
		next.names = append(next.names, p)
	}
	m.state.Store(next)
	if prev == nil {
		return
	}
	for _, p := range prev.names {
		if _, kept := next.routes[p]; kept {
			continue
		}
		m.dur.DeleteLabelValues(p)
		m.oDur.DeleteLabelValues(p)
		m.oErrors.DeleteLabelValues(p)
		m.reqs.DeletePartialMatch(prometheus.Labels{"route": p})
		m.origin.DeletePartialMatch(prometheus.Labels{"route": p})
	}
}

func (m *Metrics) route(name string) *route {
	if name == "" {
		name = NoRoute
	}
	rs := m.state.Load()
	if rt, ok := rs.routes[name]; ok {
		return rt
	}
	return rs.routes[NoRoute]
}

// Request implements gateway.Observer.
func (m *Metrics) Request(_ *http.Request, routeName string, result gateway.Result, d time.Duration) {
	rt := m.route(routeName)
	rt.results[result].Inc()
	rt.dur.Observe(d.Seconds())
}

// Lookup implements gateway.LookupObserver.
func (m *Metrics) Lookup(d time.Duration) { m.lookup.Observe(d.Seconds()) }

// Origin implements gateway.Observer.
func (m *Metrics) Origin(routeName string, status int, d time.Duration, err error) {
	rt := m.route(routeName)
	rt.oDur.Observe(d.Seconds())
	if err != nil {
		rt.oErrors.Inc()
		return
	}
	if c := status / 100; c >= 1 && c <= 5 {
		rt.oClass[c].Inc()
	}
}

// RouteStats are one route's figures since start.
type RouteStats struct {
	Route          string  `json:"route"`
	Requests       uint64  `json:"requests"`
	Hits           uint64  `json:"hits"`
	Misses         uint64  `json:"misses"`
	Stale          uint64  `json:"stale"`
	Revalidated    uint64  `json:"revalidated"`
	Bypass         uint64  `json:"bypass"`
	HitRatio       float64 `json:"hit_ratio"`
	OriginRequests uint64  `json:"origin_requests"`
	OriginOffload  float64 `json:"origin_offload"` // share of requests the origin did not see
	P50ms          float64 `json:"p50_ms"`
	P99ms          float64 `json:"p99_ms"`
	// Latency are the cumulative counts of request durations at most each
	// of LatencyBounds, then the total: a reader that keeps two snapshots
	// has the percentiles of the interval between them (LatencyQuantile
	// of their difference).
	Latency []uint64 `json:"latency_buckets,omitempty"`
}

// LatencyBounds are the upper bounds, in seconds, of RouteStats.Latency's
// buckets (the last count, past them, is the total).
func LatencyBounds() []float64 { return slices.Clone(latencyBuckets) }

// LatencyQuantile estimates the q-quantile, in seconds, of cumulative
// bucket counts as RouteStats.Latency holds them (or the difference of
// two), as Snapshot does for P50ms and P99ms. 0 when there are none.
func LatencyQuantile(cum []uint64, q float64) float64 {
	if len(cum) != len(latencyBuckets)+1 {
		return 0
	}
	h := &dto.Histogram{}
	total := cum[len(cum)-1]
	h.SampleCount = &total
	for i, up := range latencyBuckets {
		up, n := up, cum[i]
		h.Bucket = append(h.Bucket, &dto.Bucket{UpperBound: &up, CumulativeCount: &n})
	}
	return quantile(h, q)
}

// cumulative is h's counts as RouteStats.Latency holds them.
func cumulative(h *dto.Histogram) []uint64 {
	out := make([]uint64, len(latencyBuckets)+1)
	if h == nil {
		return out
	}
	for i, b := range h.Bucket {
		if i < len(latencyBuckets) {
			out[i] = b.GetCumulativeCount()
		}
	}
	out[len(latencyBuckets)] = h.GetSampleCount()
	return out
}

// Snapshot returns the totals and the per-route figures (routes with
// traffic first, busiest first).
func (m *Metrics) Snapshot() (total RouteStats, routes []RouteStats) {
	total.Route = "total"
	var all dto.Histogram
	rs := m.state.Load()
	for _, name := range rs.names {
		rt := rs.routes[name]
		s := RouteStats{Route: name}
		vals := [gateway.NumResults]uint64{}
		for i, c := range rt.results {
			vals[i] = counterValue(c)
			s.Requests += vals[i]
		}
		s.Hits, s.Misses, s.Stale = vals[gateway.ResultHit], vals[gateway.ResultMiss], vals[gateway.ResultStale]
		s.Revalidated, s.Bypass = vals[gateway.ResultRevalidated], vals[gateway.ResultBypass]
		for c := 1; c <= 5; c++ {
			s.OriginRequests += counterValue(rt.oClass[c])
		}
		s.OriginRequests += counterValue(rt.oErrors)
		var h dto.Metric
		_ = rt.dur.Write(&h)
		s.P50ms = quantile(h.GetHistogram(), 0.5) * 1000
		s.P99ms = quantile(h.GetHistogram(), 0.99) * 1000
		s.Latency = cumulative(h.GetHistogram())
		s.ratios()
		merge(&all, h.GetHistogram())
		routes = append(routes, s)

		total.Requests += s.Requests
		total.Hits += s.Hits
		total.Misses += s.Misses
		total.Stale += s.Stale
		total.Revalidated += s.Revalidated
		total.Bypass += s.Bypass
		total.OriginRequests += s.OriginRequests
	}
	total.P50ms = quantile(&all, 0.5) * 1000
	total.P99ms = quantile(&all, 0.99) * 1000
	total.Latency = cumulative(&all)
	total.ratios()
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].Requests > routes[j].Requests })
	return total, routes
}

func (s *RouteStats) ratios() {
	if s.Requests == 0 {
		return
	}
	s.HitRatio = float64(s.Hits+s.Stale+s.Revalidated) / float64(s.Requests)
	s.OriginOffload = max(0, 1-float64(s.OriginRequests)/float64(s.Requests))
}

// Uptime is the time since New.
func (m *Metrics) Uptime() time.Duration { return time.Since(m.started) }

func counterValue(c prometheus.Counter) uint64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	return uint64(d.GetCounter().GetValue())
}

// merge adds histogram b into a (same buckets).
func merge(a *dto.Histogram, b *dto.Histogram) {
	if b == nil {
		return
	}
	if len(a.Bucket) == 0 {
		for _, bk := range b.Bucket {
			up, n := bk.GetUpperBound(), bk.GetCumulativeCount()
			a.Bucket = append(a.Bucket, &dto.Bucket{UpperBound: &up, CumulativeCount: &n})
		}
		n := b.GetSampleCount()
		a.SampleCount = &n
		return
	}
	for i, bk := range b.Bucket {
		n := a.Bucket[i].GetCumulativeCount() + bk.GetCumulativeCount()
		a.Bucket[i].CumulativeCount = &n
	}
	n := a.GetSampleCount() + b.GetSampleCount()
	a.SampleCount = &n
}

// quantile estimates the q-quantile of a classic histogram by linear
// interpolation inside the bucket that holds it (as PromQL's
// histogram_quantile does). 0 when empty.
func quantile(h *dto.Histogram, q float64) float64 {
	if h == nil || h.GetSampleCount() == 0 {
		return 0
	}
	rank := q * float64(h.GetSampleCount())
	lower, prev := 0.0, uint64(0)
	for _, b := range h.Bucket {
		n := b.GetCumulativeCount()
		if float64(n) >= rank {
			inBucket := float64(n - prev)
			if inBucket == 0 {
				return b.GetUpperBound()
			}
			return lower + (b.GetUpperBound()-lower)*(rank-float64(prev))/inBucket
		}
		lower, prev = b.GetUpperBound(), n
	}
	return lower // beyond the last bucket: its bound is the best estimate
}
