package kafka

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

func TestDeliversInPartitionOrder(t *testing.T) {
	const topic, partitions, perPartition = "catalog", 3, 20
	c := newCluster(t, partitions, topic)
	app := newProducer(t, c)
	var rs []*kgo.Record
	for i := range perPartition {
		for p := range int32(partitions) {
			r := &kgo.Record{Topic: topic, Partition: p, Key: fmt.Appendf(nil, "k%d-%d", p, i), Value: fmt.Appendf(nil, `{"n":%d}`, i)}
			if i%2 == 0 {
				r.Headers = []kgo.RecordHeader{{Key: "type", Value: []byte("a")}, {Key: "ce_id", Value: fmt.Appendf(nil, "%d-%d", p, i)}, {Key: "type", Value: []byte("b")}}
			}
			rs = append(rs, r)
		}
	}
	produce(t, app, rs...)

	var rec recorder
	s := newSource(t, c, "catalog", "n1", nil, topic)
	r := start(t, s, rec.Deliver)
	waitFor(t, "every event", func() bool { return rec.Len() >= len(rs) })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	got := rec.Messages()
	if len(got) != len(rs) {
		t.Fatalf("got %d messages, want %d", len(got), len(rs))
	}

	byPartition := make(map[int32][]events.Message)
	for _, m := range got {
		var p int32
		var off int64
		if _, err := fmt.Sscanf(m.TransportID, topic+"/%d/%d", &p, &off); err != nil {
			t.Fatalf("TransportID %q: %v", m.TransportID, err)
		}
		byPartition[p] = append(byPartition[p], m)
	}
	for p := range int32(partitions) {
		t.Run(fmt.Sprintf("partition_%d", p), func(t *testing.T) {
			ms := byPartition[p]
			if len(ms) != perPartition {
				t.Fatalf("got %d messages, want %d", len(ms), perPartition)
			}
			for i, m := range ms {
				want := events.Message{
					Data:        fmt.Appendf(nil, `{"n":%d}`, i),
					Key:         fmt.Appendf(nil, "k%d-%d", p, i),
					Topic:       topic,
					TransportID: fmt.Sprintf("%s/%d/%d", topic, p, i),
				}
				if i%2 == 0 {
					want.Headers = map[string]string{"type": "b", "ce_id": fmt.Sprintf("%d-%d", p, i)}
				}
				if m.TransportID != want.TransportID || string(m.Data) != string(want.Data) ||
					string(m.Key) != string(want.Key) || m.Topic != want.Topic || !maps.Equal(m.Headers, want.Headers) ||
					(want.Headers == nil) != (m.Headers == nil) {
					t.Errorf("message %d:\n got %+v\nwant %+v", i, m, want)
				}
			}
		})
	}
}

// TestRestartResumes stops a Source in the middle of a backlog: a new
// Source of the group reads the rest, and nothing twice.
func TestRestartResumes(t *testing.T) {
	const topic, partitions, n, half = "catalog", 4, 200, 100
	c := newCluster(t, partitions, topic)
	produce(t, newProducer(t, c), spread(topic, n, partitions)...)

	var first recorder
	reached := make(chan struct{})
	// The first Source applies half the events, then blocks until its ctx
	// is canceled and reports the one in hand as not applied.
	firstDeliver := func(ctx context.Context, m events.Message) error {
		if first.Len() == half {
			select {
			case <-reached:
			default:
				close(reached)
			}
			<-ctx.Done()
			return ctx.Err()
		}
		return first.Deliver(ctx, m)
	}
	r := start(t, newSource(t, c, "catalog", "n1", nil, topic), firstDeliver)
	select {
	case <-reached:
	case <-time.After(waitTimeout):
		t.Fatal("timed out waiting for half the events")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	var second recorder
	r = start(t, newSource(t, c, "catalog", "n1", nil, topic), second.Deliver)
	waitFor(t, "the rest of the events", func() bool { return first.Len()+second.Len() >= n })
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}

	if got := first.Len(); got != half {
		t.Errorf("first Source applied %d, want %d", got, half)
	}
	seen := count(append(first.Messages(), second.Messages()...))
	if len(seen) != n {
		t.Errorf("%d distinct events delivered, want %d", len(seen), n)
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("%s delivered %d times, want once", id, k)
		}
	}
}

// flaky fails one event, and records the others (and that one, once it
// succeeds).
type flaky struct {
	recorder
	failID    string
	failUntil int // attempts that fail; -1: every attempt
	// If holding is set, the second attempt closes it and fails only
	// once ctx is done (Run stopping).
	holding chan struct{}

	attemptMu sync.Mutex
	attempts  int
}

func (f *flaky) deliver(ctx context.Context, m events.Message) error {
	if m.TransportID == f.failID {
		f.attemptMu.Lock()
		f.attempts++
		attempt := f.attempts
		f.attemptMu.Unlock()
		if attempt == 2 && f.holding != nil {
			close(f.holding)
			<-ctx.Done()
		}
		if f.failUntil < 0 || attempt <= f.failUntil {
			return errors.New("purge target down")
		}
	}
	return f.recorder.Deliver(ctx, m)
}

func (f *flaky) attempted() int {
	f.attemptMu.Lock()
	defer f.attemptMu.Unlock()
	return f.attempts
}

// offsets are the offsets delivered of partition p, in order.
func offsets(msgs []events.Message, topic string, p int32) []int64 {
	var out []int64
	for _, m := range msgs {
		var gotP int32
		var off int64
		if _, err := fmt.Sscanf(m.TransportID, topic+"/%d/%d", &gotP, &off); err == nil && gotP == p {
			out = append(out, off)
		}
	}
	return out
}

func upTo(from, to int64) []int64 {
	var out []int64
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// TestFailedEventIsRetried fails event k of partition 0: it is read again
// until it is applied, nothing after it in its partition is delivered or
// committed before it, and partition 1 goes on.
func TestFailedEventIsRetried(t *testing.T) {
	const topic, partitions, perPartition, k = "catalog", 2, 10, 4
	failID := fmt.Sprintf("%s/0/%d", topic, k)

	t.Run("retried_in_order", func(t *testing.T) {
		c := newCluster(t, partitions, topic)
		produce(t, newProducer(t, c), spread(topic, partitions*perPartition, partitions)...)
		f := &flaky{failID: failID, failUntil: 3}
		s := newSource(t, c, "catalog", "n1", nil, topic)
		r := start(t, s, f.deliver)
		waitFor(t, "every event", func() bool { return f.Len() >= partitions*perPartition })
		// Rewinds abandon fetches: not a transport error.
		if st := s.Status(); st.LastError != "" {
			t.Errorf("LastError = %q, want none", st.LastError)
		}
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		for p := range int32(partitions) {
			if got, want := offsets(f.Messages(), topic, p), upTo(0, perPartition); !slices.Equal(got, want) {
				t.Errorf("partition %d delivered %v, want %v", p, got, want)
			}
		}
		if got := f.attempted(); got != 4 {
			t.Errorf("%s attempted %d times, want 4 (3 failures, 1 success)", failID, got)
		}
	})

	t.Run("restart_resumes_at_failed", func(t *testing.T) {
		c := newCluster(t, partitions, topic)
		produce(t, newProducer(t, c), spread(topic, partitions*perPartition, partitions)...)
		f := &flaky{failID: failID, failUntil: -1, holding: make(chan struct{})}
		s := newSource(t, c, "catalog", "n1", nil, topic)
		s.testOpts = append(s.testOpts, kgo.AutoCommitInterval(100*time.Millisecond))
		r := start(t, s, f.deliver)
		adm := admin(t, c)
		select {
		case <-f.holding:
		case <-time.After(waitTimeout):
			t.Fatal("timed out waiting for the second attempt")
		}
		// Partition 1 is committed in full while event k fails: the
		// autocommits run, and stop partition 0 at k.
		waitFor(t, "a commit of partition 1", func() bool {
			return committed(t, adm, "moat-catalog", topic, partitions)[1] == perPartition
		})
		if got := committed(t, adm, "moat-catalog", topic, partitions)[0]; got != k {
			t.Errorf("partition 0 committed at %d while event %d was not applied, want %d", got, k, k)
		}
		if got, want := offsets(f.Messages(), topic, 0), upTo(0, k); !slices.Equal(got, want) {
			t.Errorf("partition 0 delivered %v, want %v", got, want)
		}
		// Stopped while event k is in deliver (which then fails): the
		// final commit stops partition 0 at k too.
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if got, want := committed(t, adm, "moat-catalog", topic, partitions), []int64{k, perPartition}; !slices.Equal(got, want) {
			t.Errorf("committed %v after stop, want %v", got, want)
		}

		var again recorder
		r = start(t, newSource(t, c, "catalog", "n1", nil, topic), again.Deliver)
		waitFor(t, "the rest of partition 0", func() bool { return again.Len() >= perPartition-k })
		if err := r.stop(t); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if got, want := offsets(again.Messages(), topic, 0), upTo(k, perPartition); !slices.Equal(got, want) {
			t.Errorf("after restart, partition 0 delivered %v, want %v", got, want)
		}
		if got := offsets(again.Messages(), topic, 1); len(got) != 0 {
			t.Errorf("after restart, partition 1 delivered %v again, want nothing", got)
		}
	})
}

// TestStart checks where a new group starts: at the events written before
// it ran (earliest) or only at those written since (latest, the default).
func TestStart(t *testing.T) {
	tests := []struct {
		start   string
		wantOld bool
	}{
		{"earliest", true},
		{"latest", false},
		{"", false},
	}
	const topic = "catalog"
	c := newCluster(t, 1, topic)
	app := newProducer(t, c)
	old := []*kgo.Record{{Topic: topic, Value: []byte("old-0")}, {Topic: topic, Value: []byte("old-1")}}
	produce(t, app, old...)
	// latest reads the events stamped from Run's start on: let the clock
	// pass the old ones' millisecond.
	waitFor(t, "the clock to move on", func() bool { return time.Since(old[1].Timestamp) > 2*time.Millisecond })

	for i, tt := range tests {
		t.Run("start_"+cmp.Or(tt.start, "default"), func(t *testing.T) {
			var rec recorder
			s := newSource(t, c, fmt.Sprintf("s%d", i), "n1", func(k *config.KafkaSource) { k.Start = tt.start }, topic)
			start(t, s, rec.Deliver)
			waitFor(t, "an assignment", func() bool { return s.Status().Connected && assigned(s) == 1 })
			// Where a new group starts is fuzzy for an event written while
			// the client lists the partition's offsets (kgo lists by time
			// and the end at once): write new events until one arrives.
			newPrefix := fmt.Sprintf("new-%d-", i)
			isNew := func(m events.Message) bool { return strings.HasPrefix(string(m.Data), newPrefix) }
			n := 0
			waitFor(t, "a new event", func() bool {
				if slices.ContainsFunc(rec.Messages(), isNew) {
					return true
				}
				produce(t, app, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%s%d", newPrefix, n)})
				n++
				return false
			})
			var gotOld []string
			for _, m := range rec.Messages() {
				if string(m.Data) == "old-0" || string(m.Data) == "old-1" {
					gotOld = append(gotOld, string(m.Data))
				}
			}
			if want := map[bool]int{true: 2, false: 0}[tt.wantOld]; len(gotOld) != want {
				t.Errorf("delivered the old events %v, want %d of them", gotOld, want)
			}
		})
	}
}
