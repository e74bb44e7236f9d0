package gateway

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
)

// opLog is an L2 that records the writes and deletes it gets, in the order
// they start, and holds each one for a while, so that writers overlap.
type opLog struct {
	hold time.Duration

	mu       sync.Mutex
	ops      []string // "set KEY ID" or "del KEY"
	inFlight int
	maxIn    int
}

func (l *opLog) record(op string) func() {
	l.mu.Lock()
	l.ops = append(l.ops, op)
	l.inFlight++
	l.maxIn = max(l.maxIn, l.inFlight)
	l.mu.Unlock()
	time.Sleep(l.hold)
	return func() {
		l.mu.Lock()
		l.inFlight--
		l.mu.Unlock()
	}
}

func (l *opLog) Get(context.Context, string) (*cache.Entry, error) { return nil, nil }

func (l *opLog) Set(_ context.Context, key string, e *cache.Entry) error {
	defer l.record(fmt.Sprintf("set %q %d", key, e.ID))()
	return nil
}

func (l *opLog) Delete(_ context.Context, key string) error {
	defer l.record(fmt.Sprintf("del %q", key))()
	return nil
}

// TestL2WritersKeepEachURLsOrder: the writers send calls side by side, but
// the ops of one URL (its key, its scoped and variant keys) in the order
// they were queued: a write before a later delete or rewrite of its key, a
// URL's variants before its Vary marker.
func TestL2WritersKeepEachURLsOrder(t *testing.T) {
	tier := &opLog{hold: 200 * time.Microsecond}
	l := newL2(tier, time.Second, time.Second, 1<<16, time.Now(), false, nil)
	var want [][]string // per URL
	var done atomic.Int64
	const urls, rounds = 40, 5
	for u := range urls {
		want = append(want, nil)
		base := fmt.Sprintf("GET http://a/%d", u)
		for r := range rounds {
			id := uint64(u*rounds + r + 1)
			variant := base + "\x00#1\x00gzip"
			for _, op := range []l2op{
				{key: variant, e: &cache.Entry{ID: id}},
				{key: base, e: &cache.Entry{ID: id}, done: func() { done.Add(1) }},
				{key: variant},
			} {
				l.enqueue(op)
				if op.e != nil {
					want[u] = append(want[u], fmt.Sprintf("set %q %d", op.key, op.e.ID))
				} else {
					want[u] = append(want[u], fmt.Sprintf("del %q", op.key))
				}
			}
		}
	}
	l.close()
	if got := done.Load(); got != urls*rounds {
		t.Errorf("done called %d times; want %d", got, urls*rounds)
	}
	for u := range urls {
		base := fmt.Sprintf("%q", fmt.Sprintf("GET http://a/%d", u))
		prefix := base[:len(base)-1] // the quoted key, without its closing quote
		var got []string
		for _, op := range tier.ops {
			if k := op[4:]; k[:len(prefix)] == prefix && (k[len(prefix)] == '"' || k[len(prefix)] == '\\') {
				got = append(got, op)
			}
		}
		if !slices.Equal(got, want[u]) {
			t.Fatalf("URL %d: ops sent\n%q\nwant\n%q", u, got, want[u])
		}
	}
	if tier.maxIn < 2 {
		t.Errorf("at most %d L2 calls in flight; want the writers side by side", tier.maxIn)
	}
}

// TestL2QueueFullOrClosedDrops: an op that does not fit its writer's
// queue, or comes after close, is dropped and counted, and its done is
// called (a fill's lease goes with it).
func TestL2QueueFullOrClosedDrops(t *testing.T) {
	block := make(chan struct{})
	tier := &blockingTier{block: block}
	l := newL2(tier, time.Minute, time.Second, l2Writers, time.Now(), false, nil) // one op per writer
	var done atomic.Int64
	key := "GET http://a/x"
	q := l.queueOf(key)
	for i := range 3 { // the first is taken by the writer (blocked), the second queued, the third dropped
		l.enqueue(l2op{key: key, e: &cache.Entry{ID: 1}, done: func() { done.Add(1) }})
		for deadline := time.Now().Add(5 * time.Second); i == 0 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			q.mu.Lock()
			n := len(q.ops)
			q.mu.Unlock()
			if n == 0 {
				break
			}
		}
	}
	if got := l.Dropped.Load(); got != 1 {
		t.Errorf("Dropped = %d with the queue full; want 1", got)
	}
	close(block)
	l.close()
	l.enqueue(l2op{key: key, e: &cache.Entry{ID: 2}, done: func() { done.Add(1) }})
	if got := l.Dropped.Load(); got != 2 {
		t.Errorf("Dropped = %d after close; want 2", got)
	}
	if got := done.Load(); got != 4 {
		t.Errorf("done called %d times; want 4 (sent, sent, dropped, dropped)", got)
	}
	if got := tier.sets.Load(); got != 2 {
		t.Errorf("L2 got %d writes; want 2", got)
	}
}

type blockingTier struct {
	block chan struct{}
	sets  atomic.Int64
}

func (b *blockingTier) Get(context.Context, string) (*cache.Entry, error) { return nil, nil }
func (b *blockingTier) Delete(context.Context, string) error              { return nil }
func (b *blockingTier) Set(context.Context, string, *cache.Entry) error {
	<-b.block
	b.sets.Add(1)
	return nil
}
