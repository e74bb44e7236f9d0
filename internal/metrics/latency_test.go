package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moatproxy/moat/gateway"
)

// The latency buckets of two snapshots give the percentiles of the
// requests between them, which the since-start percentiles hide.
func TestLatencyOfAnInterval(t *testing.T) {
	m := New(prometheus.NewRegistry(), []string{"GET /a"})
	for range 100 {
		m.Request(nil, "GET /a", gateway.ResultHit, time.Millisecond)
	}
	before, _ := m.Snapshot()
	for range 50 {
		m.Request(nil, "GET /a", gateway.ResultMiss, 2*time.Second)
	}
	after, routes := m.Snapshot()
	if len(after.Latency) != len(LatencyBounds())+1 || after.Latency[len(after.Latency)-1] != 150 {
		t.Fatalf("latency buckets %v", after.Latency)
	}
	if routes[0].Latency[len(routes[0].Latency)-1] != 150 {
		t.Fatalf("route buckets %v", routes[0].Latency)
	}
	d := make([]uint64, len(after.Latency))
	for i := range d {
		d[i] = after.Latency[i] - before.Latency[i]
	}
	if p50 := LatencyQuantile(d, 0.5); p50 < 1 || p50 > 2.5 {
		t.Errorf("interval p50 = %gs, want within the 1-2.5s bucket (every request of the interval took 2s)", p50)
	}
	if p50 := LatencyQuantile(after.Latency, 0.5); p50 > 0.001 {
		t.Errorf("since-start p50 = %gs, want at most 1ms (100 of 150 took 1ms)", p50)
	}
	if got := LatencyQuantile([]uint64{1, 2}, 0.5); got != 0 {
		t.Errorf("buckets of another layout: %g, want 0", got)
	}
}
