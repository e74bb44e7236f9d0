package redisevents

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/redistest"
)

// newTestPubSub returns a PubSub of the server at addr with short
// backoffs.
func newTestPubSub(t *testing.T, addr string, channels, patterns []string) *PubSub {
	t.Helper()
	p, err := NewPubSub(config.RedisPubSubSource{Addrs: []string{addr}, Channels: channels, Patterns: patterns}, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	p.reconnect = events.Backoff{First: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	p.retry = events.Backoff{First: time.Millisecond, Max: 10 * time.Millisecond}
	return p
}

// publish publishes each payload on channel, in one round trip.
func publish(t *testing.T, rc rueidis.Client, channel string, payloads ...string) {
	t.Helper()
	cmds := make(rueidis.Commands, 0, len(payloads))
	for _, p := range payloads {
		cmds = append(cmds, rc.B().Publish().Channel(channel).Message(p).Build())
	}
	for _, r := range rc.DoMulti(context.Background(), cmds...) {
		if err := r.Error(); err != nil {
			t.Fatalf("PUBLISH %s: %v", channel, err)
		}
	}
}

// blockingDeliver records messages; the first call tells got and waits for
// release.
func blockingDeliver(rec *recorder, got chan<- struct{}, release <-chan struct{}) events.Deliver {
	first := true
	return func(ctx context.Context, m events.Message) error {
		if first {
			first = false
			close(got)
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return rec.Deliver(ctx, m)
	}
}

func TestPubSub(t *testing.T) {
	srv := redistest.Standalone(t)
	app := appClient(t, srv.Addr)

	t.Run("channel_and_pattern_in_order", func(t *testing.T) {
		p := newTestPubSub(t, srv.Addr, []string{"orders"}, []string{"books.*"})
		if got := p.Status(); got.Connected || got.Lag != -1 {
			t.Fatalf("Status before Run = %+v, want not connected, lag -1", got)
		}
		var rec recorder
		start(t, p, rec.Deliver)
		waitUntil(t, "subscribed", func() bool { return p.Status().Connected })

		var wantTopics, wantData []string
		var cmds rueidis.Commands
		for i := range 40 {
			topic := "orders"
			if i%2 == 1 {
				topic = fmt.Sprintf("books.%d", i)
			}
			wantTopics, wantData = append(wantTopics, topic), append(wantData, fmt.Sprint(i))
			cmds = append(cmds, app.B().Publish().Channel(topic).Message(fmt.Sprint(i)).Build())
		}
		for _, r := range app.DoMulti(context.Background(), cmds...) {
			if err := r.Error(); err != nil {
				t.Fatal(err)
			}
		}
		waitUntil(t, "40 messages delivered", func() bool { return rec.Len() >= 40 })
		var gotTopics []string
		for _, m := range rec.Messages() {
			gotTopics = append(gotTopics, m.Topic)
			if m.TransportID != "" || m.Headers != nil || m.Key != nil {
				t.Errorf("message %+v: want no TransportID, Headers or Key", m)
			}
		}
		if got := rec.Data(); !slices.Equal(got, wantData) {
			t.Errorf("data = %q, want %q", got, wantData)
		}
		if !slices.Equal(gotTopics, wantTopics) {
			t.Errorf("topics = %q, want %q", gotTopics, wantTopics)
		}
		if st := p.Status(); st.Lag != -1 || st.LastError != "" {
			t.Errorf("Status = %+v, want lag -1 and no error", st)
		}
	})

	t.Run("slow_deliver_drops_beyond_queue_len", func(t *testing.T) {
		const bound = 8
		p := newTestPubSub(t, srv.Addr, []string{"flood"}, nil)
		p.queue = newQueue(bound, 1<<20)
		var rec recorder
		got, release := make(chan struct{}), make(chan struct{})
		start(t, p, blockingDeliver(&rec, got, release))
		waitUntil(t, "subscribed", func() bool { return p.Status().Connected })

		publish(t, app, "flood", "m0")
		<-got // deliver holds m0: from now on the queue only fills
		var flood []string
		for i := 1; i < 100; i++ {
			flood = append(flood, fmt.Sprintf("m%d", i))
		}
		publish(t, app, "flood", flood...)
		waitUntil(t, "99 messages queued or dropped", func() bool { return p.Dropped()+int64(len(p.queue.ch)) == 99 })

		if got, want := p.Dropped(), int64(99-bound); got != want {
			t.Errorf("Dropped = %d, want %d", got, want)
		}
		if peak := p.queue.peakLen.Load(); peak > bound {
			t.Errorf("queue held %d messages at once, bound %d", peak, bound)
		}
		if st := p.Status(); !strings.Contains(st.LastError, "91 messages dropped") || st.LastErrorAt.IsZero() {
			t.Errorf("Status = %+v, want the drops in LastError", st)
		}
		close(release)
		want := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"}
		waitUntil(t, "the queued messages delivered", func() bool { return rec.Len() >= len(want) })
		if got := rec.Data(); !slices.Equal(got, want) {
			t.Errorf("delivered %q, want %q", got, want)
		}
	})

	t.Run("slow_deliver_drops_beyond_queue_bytes", func(t *testing.T) {
		const maxBytes = 4096
		p := newTestPubSub(t, srv.Addr, []string{"big"}, nil)
		p.queue = newQueue(1000, maxBytes)
		var rec recorder
		got, release := make(chan struct{}), make(chan struct{})
		start(t, p, blockingDeliver(&rec, got, release))
		waitUntil(t, "subscribed", func() bool { return p.Status().Connected })

		publish(t, app, "big", "first")
		<-got
		payload := strings.Repeat("x", 1000)
		publish(t, app, "big", slices.Repeat([]string{payload}, 50)...)
		waitUntil(t, "50 messages queued or dropped", func() bool { return p.Dropped()+int64(len(p.queue.ch)) == 50 })
		if got, want := p.Dropped(), int64(50-4); got != want {
			t.Errorf("Dropped = %d, want %d (4 payloads of 1000 bytes fit in %d)", got, want, maxBytes)
		}
		if peak := p.queue.peakBytes.Load(); peak > maxBytes {
			t.Errorf("queue held %d bytes at once, bound %d", peak, maxBytes)
		}
		close(release)
		waitUntil(t, "the queued messages delivered", func() bool { return rec.Len() >= 5 })
		if q := p.queue.bytes.Load(); q != 0 {
			t.Errorf("queue counts %d bytes once empty, want 0", q)
		}
	})

	t.Run("deliver_error_retried", func(t *testing.T) {
		p := newTestPubSub(t, srv.Addr, []string{"retry"}, nil)
		var rec recorder
		fails := 3
		start(t, p, func(ctx context.Context, m events.Message) error {
			if string(m.Data) == "a" && fails > 0 {
				fails--
				return errors.New("purge failed")
			}
			return rec.Deliver(ctx, m)
		})
		waitUntil(t, "subscribed", func() bool { return p.Status().Connected })
		publish(t, app, "retry", "a", "b")
		waitUntil(t, "both delivered", func() bool { return rec.Len() >= 2 })
		if got := rec.Data(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("delivered %q, want [a b]", got)
		}
	})

	t.Run("run_twice", func(t *testing.T) {
		p := newTestPubSub(t, srv.Addr, []string{"twice"}, nil)
		var rec recorder
		start(t, p, rec.Deliver)
		waitUntil(t, "subscribed", func() bool { return p.Status().Connected })
		if err := p.Run(context.Background(), rec.Deliver); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run = %v, want ErrRunning", err)
		}
	})
}
