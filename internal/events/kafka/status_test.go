package kafka

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

func TestStatus(t *testing.T) {
	t.Run("lag_while_blocked", func(t *testing.T) {
		const topic, n = "catalog", 5
		c := newCluster(t, 1, topic)
		s := newSource(t, c, "catalog", "n1", nil, topic)
		if got, want := s.Status(), (events.Status{Lag: -1}); got != want {
			t.Errorf("before Run: Status = %+v, want %+v", got, want)
		}

		var rec recorder
		release := make(chan struct{})
		deliver := func(ctx context.Context, m events.Message) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return rec.Deliver(ctx, m)
		}
		r := start(t, s, deliver)
		waitFor(t, "Connected", func() bool { return s.Status().Connected })
		produce(t, newProducer(t, c), spread(topic, n, 1)...)
		waitFor(t, "Lag = 5 while deliver blocks", func() bool { return s.Status().Lag == n })

		close(release)
		waitFor(t, "Lag = 0 once delivered", func() bool { return rec.Len() == n && s.Status().Lag == 0 })
		if st := s.Status(); !st.Connected || st.LastError != "" {
			t.Errorf("after draining: Status = %+v, want connected, no error", st)
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if got := s.Status(); got.Connected || got.Lag != -1 {
			t.Errorf("after Run: Status = %+v, want not connected, Lag -1", got)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		c := newCluster(t, 1, "catalog")
		s := newSource(t, c, "catalog", "n1", func(k *config.KafkaSource) { k.Brokers = []string{"127.0.0.1:1"} }, "catalog")
		var rec recorder
		r := start(t, s, rec.Deliver)
		waitFor(t, "a LastError", func() bool { return s.Status().LastError != "" })
		if st := s.Status(); st.Connected || st.LastErrorAt.IsZero() {
			t.Errorf("Status = %+v, want not connected, with the error's time", st)
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})

	t.Run("run_twice", func(t *testing.T) {
		c := newCluster(t, 1, "catalog")
		s := newSource(t, c, "catalog", "n1", nil, "catalog")
		var rec recorder
		start(t, s, rec.Deliver)
		waitFor(t, "Connected", func() bool { return s.Status().Connected })
		if err := s.Run(t.Context(), rec.Deliver); err != ErrRunning {
			t.Errorf("second Run = %v, want ErrRunning", err)
		}
	})

	t.Run("no_goroutine_left", func(t *testing.T) {
		c := newCluster(t, 1, "catalog")
		produce(t, newProducer(t, c), spread("catalog", 1, 1)...)
		before := runtime.NumGoroutine()
		s := newSource(t, c, "catalog", "n1", nil, "catalog")
		var rec recorder
		r := start(t, s, rec.Deliver)
		waitFor(t, "the event", func() bool { return rec.Len() == 1 })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		waitFor(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
	})
}
