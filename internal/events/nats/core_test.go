package nats

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

func configNATS(url, subject string) config.NATSSource {
	return config.NATSSource{URL: url, Subject: subject}
}

func newCore(t *testing.T, cfg config.NATSSource) *Core {
	t.Helper()
	c, err := NewCore(cfg, "src", nil)
	if err != nil {
		t.Fatalf("NewCore: %v", err)
	}
	c.retry = events.Backoff{First: time.Millisecond, Max: time.Millisecond}
	return c
}

func publishN(t *testing.T, nc *natsgo.Conn, subject string, n int) {
	t.Helper()
	for i := range n {
		if err := nc.Publish(subject, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func TestCore(t *testing.T) {
	srv := startServer(t)
	app := srv.Client(t)

	t.Run("in_order_with_headers", func(t *testing.T) {
		c := newCore(t, configNATS(srv.URL(), "order.>"))
		var r recorder
		run(t, c, r.Deliver)
		waitFor(t, "subscribed", func() bool { return c.Status().Connected })
		const n = 200
		for i := range n {
			m := &natsgo.Msg{Subject: "order." + strconv.Itoa(i%3), Data: []byte(strconv.Itoa(i)),
				Header: natsgo.Header{"Ce-Type": {"book.updated", "second"}}}
			if err := app.PublishMsg(m); err != nil {
				t.Fatalf("publish: %v", err)
			}
		}
		waitFor(t, "all messages", func() bool { return r.Len() == n })
		for i, m := range r.Messages() {
			if got, want := string(m.Data), strconv.Itoa(i); got != want {
				t.Fatalf("message %d: data %q, want %q (out of order)", i, got, want)
			}
			if got, want := m.Topic, "order."+strconv.Itoa(i%3); got != want {
				t.Errorf("message %d: topic %q, want %q", i, got, want)
			}
			if got := m.Headers["Ce-Type"]; got != "book.updated" {
				t.Errorf("message %d: header Ce-Type %q, want the first value book.updated", i, got)
			}
			if m.TransportID != "" {
				t.Errorf("message %d: TransportID %q, want none on NATS core", i, m.TransportID)
			}
		}
		if st := c.Status(); st.Lag != -1 {
			t.Errorf("Lag = %d, want -1", st.Lag)
		}
	})

	t.Run("queue_group_each_message_to_one", func(t *testing.T) {
		cfg := configNATS(srv.URL(), "queue.x")
		cfg.Queue = "moat"
		var r1, r2 recorder
		c1, c2 := newCore(t, cfg), newCore(t, cfg)
		run(t, c1, r1.Deliver)
		run(t, c2, r2.Deliver)
		waitFor(t, "both subscribed", func() bool { return c1.Status().Connected && c2.Status().Connected })
		const n = 200
		publishN(t, app, "queue.x", n)
		waitFor(t, "all messages", func() bool { return r1.Len()+r2.Len() >= n })
		seen := map[string]int{}
		for _, m := range append(r1.Messages(), r2.Messages()...) {
			seen[string(m.Data)]++
		}
		for i := range n {
			if got := seen[strconv.Itoa(i)]; got != 1 {
				t.Errorf("message %d delivered %d times, want 1", i, got)
			}
		}
		if r1.Len() == 0 || r2.Len() == 0 {
			t.Errorf("split %d/%d, want both members to get some", r1.Len(), r2.Len())
		}
	})

	t.Run("without_queue_each_gets_all", func(t *testing.T) {
		cfg := configNATS(srv.URL(), "fanout.x")
		var r1, r2 recorder
		c1, c2 := newCore(t, cfg), newCore(t, cfg)
		run(t, c1, r1.Deliver)
		run(t, c2, r2.Deliver)
		waitFor(t, "both subscribed", func() bool { return c1.Status().Connected && c2.Status().Connected })
		const n = 100
		publishN(t, app, "fanout.x", n)
		waitFor(t, "all messages on both", func() bool { return r1.Len() == n && r2.Len() == n })
	})

	t.Run("deliver_error_retried_then_dropped", func(t *testing.T) {
		c := newCore(t, configNATS(srv.URL(), "retry.x"))
		var mu sync.Mutex
		calls := map[string]int{}
		var r recorder
		deliver := func(ctx context.Context, m events.Message) error {
			mu.Lock()
			calls[string(m.Data)]++
			n := calls[string(m.Data)]
			mu.Unlock()
			switch {
			case string(m.Data) == "1" && n < 3: // recovers on the third attempt
				return errors.New("purge failed")
			case string(m.Data) == "2": // never recovers
				return errors.New("purge failed")
			}
			return r.Deliver(ctx, m)
		}
		run(t, c, deliver)
		waitFor(t, "subscribed", func() bool { return c.Status().Connected })
		publishN(t, app, "retry.x", 4)
		waitFor(t, "messages", func() bool { return r.Len() == 3 })
		var got []string
		for _, m := range r.Messages() {
			got = append(got, string(m.Data))
		}
		if strings.Join(got, ",") != "0,1,3" {
			t.Errorf("delivered %v, want [0 1 3]", got)
		}
		mu.Lock()
		if calls["2"] != c.attempts {
			t.Errorf("message 2 tried %d times, want %d", calls["2"], c.attempts)
		}
		mu.Unlock()
		if st := c.Status(); !strings.Contains(st.LastError, "dropped") {
			t.Errorf("LastError = %q, want the dropped message", st.LastError)
		}
	})

	t.Run("slow_consumer_drops_are_bounded_and_reported", func(t *testing.T) {
		c := newCore(t, configNATS(srv.URL(), "flood.x"))
		c.pendingMsgs = 10
		release := make(chan struct{})
		var r recorder
		deliver := func(ctx context.Context, m events.Message) error {
			if r.Len() == 0 {
				<-release
			}
			return r.Deliver(ctx, m)
		}
		run(t, c, deliver)
		waitFor(t, "subscribed", func() bool { return c.Status().Connected })
		publishN(t, app, "flood.x", 1000)
		waitFor(t, "drops reported", func() bool { return strings.Contains(c.Status().LastError, "slow consumer") })
		close(release)
		// The rest of the flood may overflow the buffer again: publish a
		// last message until it gets through.
		waitFor(t, "the source still reads", func() bool {
			if err := app.Publish("flood.x", []byte("end")); err != nil {
				t.Fatalf("publish: %v", err)
			}
			all := r.Messages()
			return len(all) > 0 && string(all[len(all)-1].Data) == "end"
		})
		if n := r.Len(); n >= 1000 {
			t.Errorf("delivered %d messages, want some of the 1000 dropped", n)
		}
		if st := c.Status(); !strings.Contains(st.LastError, "slow consumer") {
			t.Errorf("LastError = %q, want the slow consumer's drops", st.LastError)
		}
	})

	t.Run("bad_subject_fails_run", func(t *testing.T) {
		c := newCore(t, configNATS(srv.URL(), "bad subject"))
		if err := c.Run(context.Background(), (&recorder{}).Deliver); !errors.Is(err, ErrConfig) {
			t.Errorf("Run = %v, want ErrConfig", err)
		}
	})
}

func TestNewCoreChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.NATSSource
	}{
		{"no_url", config.NATSSource{Subject: "x"}},
		{"no_subject", config.NATSSource{URL: "nats://127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewCore(tc.cfg, "src", nil); !errors.Is(err, ErrConfig) {
				t.Errorf("NewCore = %v, want ErrConfig", err)
			}
		})
	}
}
