package nats

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

// newJS returns a JetStream source with short waits, for tests.
func newJS(t *testing.T, cfg config.JetStreamSource, node string) *JetStream {
	t.Helper()
	if cfg.AckWait == 0 {
		cfg.AckWait = config.Duration(2 * time.Second)
	}
	s, err := NewJetStream(cfg, "src", node, nil)
	if err != nil {
		t.Fatalf("NewJetStream: %v", err)
	}
	s.fetchWait, s.lagEvery = time.Second, 20*time.Millisecond
	s.retry = events.Backoff{First: time.Millisecond, Max: time.Millisecond}
	s.nakFirst, s.nakMax = 10*time.Millisecond, 50*time.Millisecond
	s.failure = events.Backoff{First: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	return s
}

// stream creates a stream on subject+".>" and returns the application's
// JetStream handle.
func stream(t *testing.T, nc *natsgo.Conn, name, subject string) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: name, Subjects: []string{subject + ".>"}}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return js
}

func jsPublish(t *testing.T, js jetstream.JetStream, subject string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if _, err := js.Publish(context.Background(), subject, []byte(strconv.Itoa(i))); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

// seqCounts counts deliveries by stream sequence.
func seqCounts(rs ...*recorder) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		for _, m := range r.Messages() {
			out[m.TransportID]++
		}
	}
	return out
}

func checkExactlyOnce(t *testing.T, n int, rs ...*recorder) {
	t.Helper()
	counts := seqCounts(rs...)
	for seq := 1; seq <= n; seq++ {
		if got := counts[strconv.Itoa(seq)]; got != 1 {
			t.Errorf("sequence %d delivered %d times, want 1", seq, got)
		}
	}
	if len(counts) != n {
		t.Errorf("%d distinct sequences delivered, want %d", len(counts), n)
	}
}

func TestJetStream(t *testing.T) {
	srv := startServer(t)
	app := srv.Client(t)

	t.Run("at_least_once_across_restart", func(t *testing.T) {
		js := stream(t, app, "RESTART", "restart")
		const n = 200
		jsPublish(t, js, "restart.x", 0, n)
		cfg := config.JetStreamSource{URL: srv.URL(), Stream: "RESTART", Start: "all"}

		first := newJS(t, cfg, "")
		var r1 recorder
		ctx, cancel := context.WithCancel(context.Background())
		deliver := func(ctx context.Context, m events.Message) error {
			err := r1.Deliver(ctx, m)
			if r1.Len() == n/2 {
				cancel() // the node stops mid-way, cleanly
			}
			return err
		}
		if err := first.Run(ctx, deliver); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if got := r1.Len(); got != n/2 {
			t.Fatalf("first run delivered %d, want %d (nothing after the stop)", got, n/2)
		}

		var r2 recorder
		second := newJS(t, cfg, "")
		run(t, second, r2.Deliver)
		waitFor(t, "the rest", func() bool { return len(seqCounts(&r1, &r2)) == n })
		checkExactlyOnce(t, n, &r1, &r2)
		for i, m := range r1.Messages() {
			if got, want := string(m.Data), strconv.Itoa(i); got != want {
				t.Fatalf("first run, message %d: %q, want %q (in order)", i, got, want)
			}
		}
	})

	t.Run("deliver_error_redelivered", func(t *testing.T) {
		js := stream(t, app, "FAIL", "fail")
		s := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "FAIL"}, "")
		var mu sync.Mutex
		calls := 0
		var r recorder
		deliver := func(ctx context.Context, m events.Message) error {
			if m.TransportID == "5" {
				mu.Lock()
				calls++
				c := calls
				mu.Unlock()
				if c <= s.attempts+2 { // fails past the in-place retries: handed back once
					return errors.New("purge failed")
				}
			}
			return r.Deliver(ctx, m)
		}
		run(t, s, deliver)
		waitFor(t, "consumer", func() bool { return s.Status().Connected })
		jsPublish(t, js, "fail.x", 0, 10)
		waitFor(t, "all delivered", func() bool { return r.Len() == 10 })
		checkExactlyOnce(t, 10, &r)
		mu.Lock()
		defer mu.Unlock()
		if want := s.attempts + 3; calls != want {
			t.Errorf("message 5 tried %d times, want %d", calls, want)
		}
	})

	t.Run("per_node_durables_each_get_all", func(t *testing.T) {
		js := stream(t, app, "PERNODE", "pernode")
		cfg := config.JetStreamSource{URL: srv.URL(), Stream: "PERNODE", PerNode: true}
		a, b := newJS(t, cfg, "a"), newJS(t, cfg, "b")
		if a.Durable() != "moat-src-a" || b.Durable() != "moat-src-b" {
			t.Fatalf("durables %q, %q, want moat-src-a, moat-src-b", a.Durable(), b.Durable())
		}
		var ra, rb recorder
		run(t, a, ra.Deliver)
		run(t, b, rb.Deliver)
		waitFor(t, "consumers", func() bool { return a.Status().Connected && b.Status().Connected })
		const n = 50
		jsPublish(t, js, "pernode.x", 0, n)
		waitFor(t, "all on both", func() bool { return ra.Len() == n && rb.Len() == n })
		checkExactlyOnce(t, n, &ra)
		checkExactlyOnce(t, n, &rb)
	})

	t.Run("shared_durable_splits", func(t *testing.T) {
		js := stream(t, app, "SHARED", "shared")
		cfg := config.JetStreamSource{URL: srv.URL(), Stream: "SHARED"}
		a, b := newJS(t, cfg, "a"), newJS(t, cfg, "b")
		var ra, rb recorder
		run(t, a, ra.Deliver)
		run(t, b, rb.Deliver)
		waitFor(t, "both nodes waiting on the consumer", func() bool {
			c, err := js.Consumer(context.Background(), "SHARED", "moat-src")
			return err == nil && c.CachedInfo().NumWaiting == 2
		})
		const n = 200
		jsPublish(t, js, "shared.x", 0, n)
		waitFor(t, "all", func() bool { return ra.Len()+rb.Len() >= n })
		checkExactlyOnce(t, n, &ra, &rb)
		if ra.Len() == 0 || rb.Len() == 0 {
			t.Errorf("split %d/%d, want both nodes to get some", ra.Len(), rb.Len())
		}
	})

	t.Run("lag_while_deliver_blocks", func(t *testing.T) {
		js := stream(t, app, "LAG", "lag")
		s := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "LAG"}, "")
		release := make(chan struct{})
		var r recorder
		deliver := func(ctx context.Context, m events.Message) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			return r.Deliver(ctx, m)
		}
		run(t, s, deliver)
		waitFor(t, "consumer", func() bool { return s.Status().Connected })
		jsPublish(t, js, "lag.x", 0, 10)
		waitFor(t, "lag > 0", func() bool { return s.Status().Lag > 0 })
		close(release)
		waitFor(t, "all delivered", func() bool { return r.Len() == 10 })
		waitFor(t, "lag 0", func() bool { return s.Status().Lag == 0 })
	})

	t.Run("start_all_vs_new", func(t *testing.T) {
		js := stream(t, app, "START", "start")
		jsPublish(t, js, "start.x", 0, 5) // before either consumer exists
		all := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "START", Start: "all", Durable: "all"}, "")
		fresh := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "START", Durable: "new"}, "")
		var ra, rn recorder
		run(t, all, ra.Deliver)
		run(t, fresh, rn.Deliver)
		waitFor(t, "consumers", func() bool { return all.Status().Connected && fresh.Status().Connected })
		jsPublish(t, js, "start.x", 5, 8)
		waitFor(t, "all: old and new", func() bool { return ra.Len() == 8 })
		waitFor(t, "new: new only", func() bool { return rn.Len() == 3 })
		checkExactlyOnce(t, 8, &ra)
		for _, m := range rn.Messages() {
			if seq, _ := strconv.Atoi(m.TransportID); seq <= 5 {
				t.Errorf("start new delivered sequence %d, published before the consumer", seq)
			}
		}
	})

	t.Run("stream_created_later", func(t *testing.T) {
		s := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "LATER", Start: "all"}, "")
		var r recorder
		run(t, s, r.Deliver)
		waitFor(t, "the missing stream reported", func() bool { return s.Status().LastError != "" })
		if s.Status().Connected {
			t.Error("Connected without a consumer")
		}
		js := stream(t, app, "LATER", "later")
		jsPublish(t, js, "later.x", 0, 3)
		waitFor(t, "delivered", func() bool { return r.Len() == 3 })
	})

	t.Run("headers_and_subject", func(t *testing.T) {
		js := stream(t, app, "HDR", "hdr")
		s := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "HDR", Subject: "hdr.books"}, "")
		var r recorder
		run(t, s, r.Deliver)
		waitFor(t, "consumer", func() bool { return s.Status().Connected })
		msg := &natsgo.Msg{Subject: "hdr.authors", Data: []byte("filtered out")}
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		msg = &natsgo.Msg{Subject: "hdr.books", Data: []byte(`{"id":1}`), Header: natsgo.Header{"Ce-Id": {"e1", "e2"}}}
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "delivered", func() bool { return r.Len() == 1 })
		m := r.Messages()[0]
		if m.Topic != "hdr.books" || m.TransportID != "2" || m.Headers["Ce-Id"] != "e1" || string(m.Data) != `{"id":1}` {
			t.Errorf("got %+v, want hdr.books, sequence 2, Ce-Id e1", m)
		}
	})

	t.Run("refused_consumer_fails_run", func(t *testing.T) {
		stream(t, app, "BAD", "bad")
		s := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "BAD", Durable: "a.b"}, "")
		if err := s.Run(context.Background(), (&recorder{}).Deliver); !errors.Is(err, ErrConfig) {
			t.Errorf("Run = %v, want ErrConfig", err)
		}
	})
}

func TestJetStreamServerRestart(t *testing.T) {
	srv := startServer(t)
	app := srv.Client(t)
	js := stream(t, app, "EVENTS", "events")
	s := newJS(t, config.JetStreamSource{URL: srv.URL(), Stream: "EVENTS"}, "")
	var r recorder
	blocked, release := make(chan struct{}), make(chan struct{})
	deliver := func(ctx context.Context, m events.Message) error {
		if m.TransportID == "50" {
			select {
			case <-blocked:
			default:
				close(blocked)
				<-release // the server restarts while this node holds a batch
			}
		}
		return r.Deliver(ctx, m)
	}
	run(t, s, deliver)
	waitFor(t, "consumer", func() bool { return s.Status().Connected })
	jsPublish(t, js, "events.x", 0, 100)
	<-blocked

	srv.Restart() // same port, same store: the stream and the consumer survive
	close(release)
	waitFor(t, "application reconnected", app.IsConnected)
	jsPublish(t, js, "events.x", 100, 200)
	waitFor(t, "everything", func() bool { return len(seqCounts(&r)) == 200 })
	waitFor(t, "source connected", func() bool { return s.Status().Connected })
	if dup := r.Len() - 200; dup != 0 {
		t.Logf("%d duplicates across the restart (allowed: at-least-once)", dup)
	}
}

func TestNewJetStreamChecksConfig(t *testing.T) {
	ok := config.JetStreamSource{URL: "nats://127.0.0.1:1", Stream: "S"}
	for _, tc := range []struct {
		name string
		edit func(*config.JetStreamSource)
		node string
	}{
		{"no_url", func(c *config.JetStreamSource) { c.URL = "" }, ""},
		{"no_stream", func(c *config.JetStreamSource) { c.Stream = "" }, ""},
		{"bad_start", func(c *config.JetStreamSource) { c.Start = "latest" }, ""},
		{"negative_ack_wait", func(c *config.JetStreamSource) { c.AckWait = -1 }, ""},
		{"per_node_without_node", func(c *config.JetStreamSource) { c.PerNode = true }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			if _, err := NewJetStream(cfg, "src", tc.node, nil); !errors.Is(err, ErrConfig) {
				t.Errorf("NewJetStream = %v, want ErrConfig", err)
			}
		})
	}
	t.Run("durable_names", func(t *testing.T) {
		for _, tc := range []struct {
			durable string
			perNode bool
			want    string
		}{
			{"", false, "moat-src"},
			{"", true, "moat-src-n1"},
			{"mine", false, "mine"},
			{"mine", true, "mine-n1"},
		} {
			cfg := ok
			cfg.Durable, cfg.PerNode = tc.durable, tc.perNode
			s, err := NewJetStream(cfg, "src", "n1", nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Durable() != tc.want {
				t.Errorf("durable %q per_node %v: got %q, want %q", tc.durable, tc.perNode, s.Durable(), tc.want)
			}
		}
	})
}
