package redisevents

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/redistest"
)

// newTestStream returns a Stream of key on the server at addr with short
// timings; edit tunes its config.
func newTestStream(t *testing.T, addr, key, node string, edit func(*config.RedisStreamSource)) *Stream {
	t.Helper()
	cfg := config.RedisStreamSource{Addrs: []string{addr}, Stream: key, Start: "all"}
	if edit != nil {
		edit(&cfg)
	}
	s, err := NewStream(cfg, "test", node, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.reconnect = events.Backoff{First: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	s.retry = events.Backoff{First: time.Millisecond, Max: 10 * time.Millisecond}
	s.lagEvery = 20 * time.Millisecond
	return s
}

func TestStream(t *testing.T) {
	srv := redistest.Standalone(t)
	app := appClient(t, srv.Addr)
	add := func(t *testing.T, key string, n int) (ids, data []string) {
		t.Helper()
		for i := range n {
			d := fmt.Sprintf("e%d", i)
			ids, data = append(ids, xadd(t, app, key, "data", d)), append(data, d)
		}
		return ids, data
	}

	t.Run("in_order", func(t *testing.T) {
		ids, data := add(t, "in-order", 150) // more than one read's count
		s := newTestStream(t, srv.Addr, "in-order", "n1", nil)
		var rec recorder
		start(t, s, rec.Deliver)
		waitUntil(t, "150 entries delivered", func() bool { return rec.Len() >= 150 })
		if got := rec.IDs(); !slices.Equal(got, ids) {
			t.Errorf("IDs = %q, want %q", got, ids)
		}
		if got := rec.Data(); !slices.Equal(got, data) {
			t.Errorf("data = %q, want %q", got, data)
		}
		if m := rec.Messages()[0]; m.Topic != "in-order" || m.Headers != nil {
			t.Errorf("message %+v: want topic in-order and no headers", m)
		}
		waitUntil(t, "every entry acknowledged", func() bool { return pendingCount(t, app, "in-order", "moat-test") == 0 })
	})

	t.Run("start_new_skips_old_entries", func(t *testing.T) {
		add(t, "new-only", 3)
		s := newTestStream(t, srv.Addr, "new-only", "n1", func(c *config.RedisStreamSource) { c.Start = "" })
		var rec recorder
		start(t, s, rec.Deliver)
		waitUntil(t, "group created", func() bool { return s.Status().Connected })
		id := xadd(t, app, "new-only", "data", "fresh")
		waitUntil(t, "the new entry delivered", func() bool { return rec.Len() >= 1 })
		if got := rec.IDs(); !slices.Equal(got, []string{id}) {
			t.Errorf("IDs = %q, want only the new %s", got, id)
		}
	})

	t.Run("at_least_once_across_restart", func(t *testing.T) {
		ids, _ := add(t, "restart", 200)
		first := newTestStream(t, srv.Addr, "restart", "n1", nil)
		var rec recorder
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Stopped mid-batch, as it delivers the 150th entry: the rest of
		// its second read (151-200) is left pending.
		err := first.Run(ctx, func(ctx context.Context, m events.Message) error {
			if rec.Deliver(ctx, m); rec.Len() == 150 {
				cancel()
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
		if got := pendingCount(t, app, "restart", "moat-test"); got != 50 {
			t.Errorf("pending after the stop = %d, want 50 (the 150th, delivered as Run stopped, is acknowledged)", got)
		}
		second := newTestStream(t, srv.Addr, "restart", "n1", nil)
		start(t, second, rec.Deliver)
		waitUntil(t, "200 entries delivered", func() bool { return rec.Len() >= 200 })
		waitUntil(t, "every entry acknowledged", func() bool { return pendingCount(t, app, "restart", "moat-test") == 0 })
		if got := rec.IDs(); !slices.Equal(got, ids) {
			t.Errorf("IDs delivered = %d in all, want each of the 200 once, in order", len(got))
		}
	})

	t.Run("deliver_error_retried_not_acked", func(t *testing.T) {
		ids, _ := add(t, "retry", 3)
		s := newTestStream(t, srv.Addr, "retry", "n1", nil)
		var rec recorder
		failing, proceed := make(chan struct{}), make(chan struct{})
		var attempts atomic.Int32
		start(t, s, func(ctx context.Context, m events.Message) error {
			if m.TransportID == ids[0] {
				switch attempts.Add(1) {
				case 1:
					return errors.New("purge failed")
				case 2:
					close(failing)
					<-proceed
					return errors.New("purge failed again")
				}
			}
			return rec.Deliver(ctx, m)
		})
		<-failing
		if n := pendingCount(t, app, "retry", "moat-test"); n != 3 {
			t.Errorf("pending while the first entry fails = %d, want 3 (none acknowledged)", n)
		}
		if n := rec.Len(); n != 0 {
			t.Errorf("%d entries delivered past the failing one", n)
		}
		close(proceed)
		waitUntil(t, "3 entries delivered", func() bool { return rec.Len() >= 3 })
		if got := rec.IDs(); !slices.Equal(got, ids) {
			t.Errorf("IDs = %q, want %q", got, ids)
		}
		if n := attempts.Load(); n != 3 {
			t.Errorf("the failing entry was tried %d times, want 3", n)
		}
		waitUntil(t, "every entry acknowledged", func() bool { return pendingCount(t, app, "retry", "moat-test") == 0 })
	})

	t.Run("own_pending_redelivered_deleted_acked", func(t *testing.T) {
		do(t, app, "XGROUP", "CREATE", "own", "moat-test", "$", "MKSTREAM")
		ids, _ := add(t, "own", 4)
		// This node read them, then crashed; meanwhile the application
		// deleted one of them.
		do(t, app, "XREADGROUP", "GROUP", "moat-test", "n1", "COUNT", "10", "STREAMS", "own", ">")
		do(t, app, "XDEL", "own", ids[1])
		later := xadd(t, app, "own", "data", "later")
		s := newTestStream(t, srv.Addr, "own", "n1", nil)
		var rec recorder
		start(t, s, rec.Deliver)
		want := []string{ids[0], ids[2], ids[3], later}
		waitUntil(t, "4 entries delivered", func() bool { return rec.Len() >= len(want) })
		if got := rec.IDs(); !slices.Equal(got, want) {
			t.Errorf("IDs = %q, want %q (not the deleted one)", got, want)
		}
		waitUntil(t, "every entry acknowledged, the deleted one too", func() bool { return pendingCount(t, app, "own", "moat-test") == 0 })
	})

	t.Run("claims_entries_of_a_dead_consumer", func(t *testing.T) {
		do(t, app, "XGROUP", "CREATE", "claim", "g", "$", "MKSTREAM")
		ids, _ := add(t, "claim", 5)
		// A node reads them and dies before acknowledging.
		do(t, app, "XREADGROUP", "GROUP", "g", "dead", "COUNT", "10", "STREAMS", "claim", ">")
		if n := pendingCount(t, app, "claim", "g"); n != 5 {
			t.Fatalf("pending of the dead consumer = %d, want 5", n)
		}
		s := newTestStream(t, srv.Addr, "claim", "alive", func(c *config.RedisStreamSource) {
			c.Group = "g"
			c.ClaimAfter = config.Duration(200 * time.Millisecond)
		})
		began := time.Now()
		var rec recorder
		start(t, s, rec.Deliver)
		waitUntil(t, "the dead consumer's entries delivered", func() bool { return rec.Len() >= 5 })
		if waited := time.Since(began); waited < 200*time.Millisecond {
			t.Errorf("claimed after %v, before ClaimAfter", waited)
		}
		if got := rec.IDs(); !slices.Equal(got, ids) {
			t.Errorf("IDs = %q, want %q", got, ids)
		}
		waitUntil(t, "every entry acknowledged", func() bool { return pendingCount(t, app, "claim", "g") == 0 })
	})

	t.Run("per_node_groups_each_get_all", func(t *testing.T) {
		perNode := func(c *config.RedisStreamSource) { c.PerNode = true }
		a := newTestStream(t, srv.Addr, "per-node", "a", perNode)
		b := newTestStream(t, srv.Addr, "per-node", "b", perNode)
		if a.Group() != "moat-test-a" || b.Group() != "moat-test-b" {
			t.Fatalf("groups %q and %q, want moat-test-a and moat-test-b", a.Group(), b.Group())
		}
		var recA, recB recorder
		start(t, a, recA.Deliver)
		start(t, b, recB.Deliver)
		ids, _ := add(t, "per-node", 30)
		waitUntil(t, "both nodes got 30", func() bool { return recA.Len() >= 30 && recB.Len() >= 30 })
		if got := recA.IDs(); !slices.Equal(got, ids) {
			t.Errorf("node a got %q, want %q", got, ids)
		}
		if got := recB.IDs(); !slices.Equal(got, ids) {
			t.Errorf("node b got %q, want %q", got, ids)
		}
	})

	t.Run("shared_group_splits_without_duplicates", func(t *testing.T) {
		a := newTestStream(t, srv.Addr, "shared", "a", nil)
		b := newTestStream(t, srv.Addr, "shared", "b", nil)
		var recA, recB recorder
		start(t, a, recA.Deliver)
		start(t, b, recB.Deliver)
		// Both wait in XREADGROUP BLOCK: Redis then hands the entries to
		// them in turn.
		waitUntil(t, "both nodes blocked in XREADGROUP", func() bool {
			return strings.Count(srv.Do(t, "CLIENT", "LIST"), "cmd=xreadgroup") == 2
		})
		ids, _ := add(t, "shared", 100)
		waitUntil(t, "100 entries delivered", func() bool { return recA.Len()+recB.Len() >= 100 })
		seen := map[string]int{}
		for _, id := range append(recA.IDs(), recB.IDs()...) {
			seen[id]++
		}
		for _, id := range ids {
			if seen[id] != 1 {
				t.Errorf("entry %s delivered %d times, want once", id, seen[id])
			}
		}
		if len(seen) != len(ids) {
			t.Errorf("%d distinct entries delivered, want %d", len(seen), len(ids))
		}
		if recA.Len() == 0 || recB.Len() == 0 {
			t.Errorf("split %d/%d, want both nodes to get some", recA.Len(), recB.Len())
		}
	})

	t.Run("lag_while_deliver_blocks", func(t *testing.T) {
		s := newTestStream(t, srv.Addr, "lag", "n1", nil)
		if lag := s.Status().Lag; lag != -1 {
			t.Errorf("Lag before Run = %d, want -1", lag)
		}
		var rec recorder
		got, release := make(chan struct{}), make(chan struct{})
		start(t, s, blockingDeliver(&rec, got, release))
		waitUntil(t, "lag known", func() bool { return s.Status().Lag == 0 })
		add(t, "lag", 1)
		<-got
		add(t, "lag", 5)
		waitUntil(t, "lag 5 while deliver blocks", func() bool { return s.Status().Lag == 5 })
		close(release)
		waitUntil(t, "6 delivered and lag 0", func() bool { return rec.Len() >= 6 && s.Status().Lag == 0 })
	})

	t.Run("payload", func(t *testing.T) {
		noData := xadd(t, app, "payload", "type", "book", "id", "7")
		withData := xadd(t, app, "payload", "data", `{"type":"book"}`, "source", "catalog")
		custom := xadd(t, app, "payload-field", "body", "b", "data", "d")
		var rec recorder
		start(t, newTestStream(t, srv.Addr, "payload", "n1", nil), rec.Deliver)
		start(t, newTestStream(t, srv.Addr, "payload-field", "n1", func(c *config.RedisStreamSource) { c.Field = "body" }), rec.Deliver)
		waitUntil(t, "3 entries delivered", func() bool { return rec.Len() >= 3 })
		byID := map[string]events.Message{} // by key and ID: IDs repeat across streams
		for _, m := range rec.Messages() {
			byID[m.Topic+" "+m.TransportID] = m
		}
		for _, tc := range []struct {
			key, id, data string
			headers       map[string]string
		}{
			{"payload", noData, `{"id":"7","type":"book"}`, nil},
			{"payload", withData, `{"type":"book"}`, map[string]string{"source": "catalog"}},
			{"payload-field", custom, "b", map[string]string{"data": "d"}},
		} {
			m := byID[tc.key+" "+tc.id]
			if string(m.Data) != tc.data || !maps.Equal(m.Headers, tc.headers) {
				t.Errorf("entry %s: data %s, headers %v; want %s, %v", tc.id, m.Data, m.Headers, tc.data, tc.headers)
			}
		}
	})
}
