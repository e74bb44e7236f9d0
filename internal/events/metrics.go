package events

import "github.com/prometheus/client_golang/prometheus"

var (
	dUp     = prometheus.NewDesc("moat_event_source_up", "1 while an event source holds a working connection (and its group membership).", []string{"source", "kind"}, nil)
	dLag    = prometheus.NewDesc("moat_event_source_lag", "Events waiting for this node's consumer (Kafka, JetStream, Redis Streams); -1 where the transport cannot tell.", []string{"source"}, nil)
	dEvents = prometheus.NewDesc("moat_events_total", "Events from a source, by result (received; applied: its purges applied; duplicate: its ID applied lately; failed: a delivery that failed and is retried).", []string{"source", "result"}, nil)
	dDead   = prometheus.NewDesc("moat_event_dead_letters_total", "Events acknowledged without a purge, by reason (parse, unmapped, invalid, rejected).", []string{"source", "reason"}, nil)
	dPurges = prometheus.NewDesc("moat_event_purges_total", "Purges applied from a source's events.", []string{"source"}, nil)
)

// Collector exports the Runner's sources at scrape time.
func (r *Runner) Collector() prometheus.Collector { return collector{r} }

type collector struct{ r *Runner }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dUp, dLag, dEvents, dDead, dPurges} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.Stats() {
		up := 0.0
		if s.Status.Connected {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(dUp, prometheus.GaugeValue, up, s.Name, s.Kind)
		ch <- prometheus.MustNewConstMetric(dLag, prometheus.GaugeValue, float64(s.Status.Lag), s.Name)
		for result, v := range map[string]int64{"received": s.Received, "applied": s.Applied, "duplicate": s.Duplicates, "failed": s.Failed} {
			ch <- prometheus.MustNewConstMetric(dEvents, prometheus.CounterValue, float64(v), s.Name, result)
		}
		for reason, v := range s.Dead {
			ch <- prometheus.MustNewConstMetric(dDead, prometheus.CounterValue, float64(v), s.Name, reason)
		}
		ch <- prometheus.MustNewConstMetric(dPurges, prometheus.CounterValue, float64(s.Purges), s.Name)
	}
}
