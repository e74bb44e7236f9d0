package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/events/eventstest"
)

// waitTimeout bounds every wait; the conditions hold in well under a
// second on an idle machine.
const waitTimeout = 30 * time.Second

// newCluster starts an in-process Kafka (one broker) with topics of the
// given partition count.
func newCluster(t *testing.T, partitions int32, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// newProducer is the application: a plain kgo client that writes to the
// partition each record names.
func newProducer(t *testing.T, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	opts = append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(t.Context(), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// spread returns n records numbered 0..n-1 over the partitions, in turn.
func spread(topic string, n int, partitions int32) []*kgo.Record {
	rs := make([]*kgo.Record, n)
	for i := range rs {
		rs[i] = &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: fmt.Appendf(nil, "%d", i)}
	}
	return rs
}

// newSource is a Source reading topics of c, from the earliest offset
// unless edit says otherwise, with a short heartbeat and lag period.
func newSource(t *testing.T, c *kfake.Cluster, name, node string, edit func(*config.KafkaSource), topics ...string) *Source {
	t.Helper()
	cfg := config.KafkaSource{Brokers: c.ListenAddrs(), Topics: topics, Start: "earliest"}
	if edit != nil {
		edit(&cfg)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(cfg, name, node, log)
	if err != nil {
		t.Fatal(err)
	}
	s.lagEvery = 50 * time.Millisecond
	s.testOpts = []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond), kgo.FetchMaxWait(500 * time.Millisecond)}
	return s
}

// runner is a running Source.
type runner struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start runs s until stop (or the test's end).
func start(t *testing.T, s *Source, deliver events.Deliver) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := s.Run(ctx, deliver)
		if ctx.Err() == nil {
			t.Errorf("Run returned %v before its ctx was canceled", err)
		}
		r.done <- err
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run's ctx and returns what Run returned.
func (r *runner) stop(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case r.err = <-r.done:
		case <-time.After(waitTimeout):
			r.err = fmt.Errorf("Run did not return %v after its ctx was canceled", waitTimeout)
		}
	})
	return r.err
}

// waitFor polls cond until it holds, failing the test after waitTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// assigned is how many partitions the group gave s.
func assigned(s *Source) int {
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	return len(s.st.parts)
}

// admin is an admin client of c.
func admin(t *testing.T, c *kfake.Cluster) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newProducer(t, c))
}

// committed is the group's committed offset of each partition of topic
// (-1: none), as the brokers have it.
func committed(t *testing.T, adm *kadm.Client, group, topic string, partitions int32) []int64 {
	t.Helper()
	resp, err := adm.FetchOffsets(t.Context(), group)
	if err == nil {
		err = resp.Error()
	}
	if errors.Is(err, kerr.GroupIDNotFound) {
		resp, err = nil, nil // no member has joined yet
	}
	if err != nil {
		t.Fatalf("fetch offsets of %s: %v", group, err)
	}
	out := make([]int64, partitions)
	for p := range out {
		out[p] = -1
		if o, ok := resp.Lookup(topic, int32(p)); ok {
			out[p] = o.At
		}
	}
	return out
}

// count is how many times each TransportID was delivered.
func count(msgs []events.Message) map[string]int {
	n := make(map[string]int, len(msgs))
	for _, m := range msgs {
		n[m.TransportID]++
	}
	return n
}

// recorder is eventstest.Recorder.
type recorder = eventstest.Recorder
