package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/events/mapping"
)

// chanSource delivers what the test sends, and reports each delivery's
// error back.
type chanSource struct {
	in  chan Message
	out chan error
}

func (c *chanSource) Run(ctx context.Context, deliver Deliver) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-c.in:
			c.out <- deliver(ctx, m)
		}
	}
}

func (c *chanSource) Status() Status { return Status{Connected: true, Lag: -1} }

func TestRunner(t *testing.T) {
	m, errs := mapping.Compile(mapping.Config{Rules: []mapping.Rule{
		{When: map[string][]string{"type": {"book"}}, Tags: []string{"book:{id}"}},
		{When: map[string][]string{"type": {"book"}}, Tags: []string{"books"}, Soft: true},
		{When: map[string][]string{"type": {"gone"}}, Routes: []string{"GET /nowhere"}},
	}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var mu sync.Mutex
	var applied []gateway.Purge
	failNext := errors.New("the gateway is closing")
	var fail error
	seenIDs := map[string]bool{}
	apply := func(_ context.Context, p gateway.Purge) (gateway.PurgeResult, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail != nil {
			err := fail
			fail = nil
			return gateway.PurgeResult{}, err
		}
		if len(p.Routes) > 0 {
			return gateway.PurgeResult{}, fmt.Errorf("%w: no route %q", gateway.ErrBadPurge, p.Routes[0])
		}
		if seenIDs[p.ID] {
			return gateway.PurgeResult{Duplicate: true}, nil
		}
		seenIDs[p.ID] = true
		applied = append(applied, p)
		return gateway.PurgeResult{Affected: 1}, nil
	}
	r := NewRunner(Options{Apply: apply, Dedupe: 2})
	src := &chanSource{in: make(chan Message), out: make(chan error)}
	r.Add("catalog", "test", m, src)
	r.Start()
	t.Cleanup(r.Close)
	send := func(data, id string) error {
		src.in <- Message{Data: []byte(data), TransportID: id}
		return <-src.out
	}
	stats := func() SourceStats { return r.Stats()[0] }

	t.Run("hard_and_soft_purges_with_the_event's_id", func(t *testing.T) {
		if err := send(`{"type":"book","id":1}`, "t/0/1"); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(applied) != 2 || applied[0].Soft || !applied[1].Soft || applied[0].Tags[0] != "book:1" || applied[1].Tags[0] != "books" {
			t.Fatalf("applied %+v, want a hard purge of book:1 and a soft one of books", applied)
		}
		if applied[0].ID != "event:catalog:t/0/1:0" || applied[1].ID != "event:catalog:t/0/1:1" {
			t.Errorf("purge IDs %q, %q: want them derived from the event's", applied[0].ID, applied[1].ID)
		}
	})
	t.Run("a_redelivered_event_is_a_duplicate", func(t *testing.T) {
		if err := send(`{"type":"book","id":1}`, "t/0/1"); err != nil {
			t.Fatal(err)
		}
		if st := stats(); st.Duplicates != 1 || st.Applied != 1 {
			t.Errorf("duplicates %d, applied %d; want 1, 1", st.Duplicates, st.Applied)
		}
	})
	t.Run("dead_letters_by_reason", func(t *testing.T) {
		for _, data := range []string{`not json`, `{"type":"author"}`, `{"type":"book"}`, `{"type":"gone"}`} {
			if err := send(data, ""); err != nil {
				t.Errorf("%s: %v, want nil: a dead letter is acknowledged", data, err)
			}
		}
		st := stats()
		for reason, want := range map[string]int64{"parse": 1, "unmapped": 1, "invalid": 1, "rejected": 1} {
			if st.Dead[reason] != want {
				t.Errorf("dead letters %s = %d, want %d", reason, st.Dead[reason], want)
			}
		}
		if st.LastDead == "" {
			t.Error("no last dead letter recorded")
		}
	})
	t.Run("a_failed_apply_is_retried_not_remembered", func(t *testing.T) {
		mu.Lock()
		fail = failNext
		mu.Unlock()
		if err := send(`{"type":"book","id":2}`, "t/0/2"); !errors.Is(err, failNext) {
			t.Fatalf("deliver = %v, want the apply error, so that the source delivers it again", err)
		}
		if err := send(`{"type":"book","id":2}`, "t/0/2"); err != nil {
			t.Fatal(err)
		}
		if st := stats(); st.Failed != 1 || st.Applied != 2 {
			t.Errorf("failed %d, applied %d; want 1, 2", st.Failed, st.Applied)
		}
	})
	t.Run("the_id_memory_is_bounded", func(t *testing.T) {
		// Dedupe 2: t/0/1 was pushed out by t/0/2 and t/0/3.
		send(`{"type":"book","id":3}`, "t/0/3")
		if r.seen.has("catalog\x00t/0/1") {
			t.Error("the oldest ID is still remembered past Dedupe")
		}
		if len(r.seen.set) > 2 {
			t.Errorf("%d IDs remembered, want at most 2", len(r.seen.set))
		}
	})
}
