package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RedisCalls returns the observer of Redis calls (redisl2.Options.Observe):
// a histogram of their durations by class and result.
func RedisCalls(reg prometheus.Registerer) func(class string, d time.Duration, err error) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "moat_redis_call_duration_seconds",
		Help:    "Redis calls by class (get, set, delete, invalidate, lease, versions, publish) and result (ok, error): their duration.",
		Buckets: []float64{100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 1},
	}, []string{"class", "result"})
	reg.MustRegister(h)
	type key struct{ class, result string }
	cache := map[key]prometheus.Observer{}
	for _, c := range []string{"get", "set", "delete", "invalidate", "lease", "versions", "publish"} {
		for _, r := range []string{"ok", "error"} {
			cache[key{c, r}] = h.WithLabelValues(c, r)
		}
	}
	return func(class string, d time.Duration, err error) {
		r := "ok"
		if err != nil {
			r = "error"
		}
		if o := cache[key{class, r}]; o != nil {
			o.Observe(d.Seconds())
		}
	}
}
