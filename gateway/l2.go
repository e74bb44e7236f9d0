package gateway

import (
	"cmp"
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
)

// The two-level cache: L1 (Options.Tier, in memory, cannot fail) answers
// every hit; an optional L2 (Options.L2, shared by many nodes: Redis,
// Memcached) is asked on an L1 miss and written after the answer. L2 is
// never needed for an answer or for correctness:
//
//   - every call runs under its own deadline (Options.L2Timeout), behind a
//     circuit breaker: an L2 that fails or hangs costs each request at most
//     the deadline, and after a run of failures nothing until it recovers;
//   - writes and deletes go through bounded queues drained by l2Writers
//     goroutines, after the client and the coalesced waiters are answered;
//     what does not fit is dropped and counted (an entry missing from L2 is
//     a miss; a delete missing from L2 is covered by the next rule). The
//     ops of one URL (its scopes, variants and Vary marker) share a queue
//     and are sent in the order they were queued;
//   - an entry read from L2 is promoted into L1 through the same rules as a
//     fill (tag index, then a purge check after storing), and only if this
//     node can vouch for it: no purge of its URL, its route, all, one of
//     its tags or a prefix of its path was stamped here since its fill
//     started (generations.purgedAfter), and, if L2 does not apply purges
//     itself, its fill started after this node did (older entries may
//     predate purges this node never heard of);
//   - a purge is applied to L2 once, by the node it was made on, when L2 is
//     a cache.Invalidator (keys, tags, URL tags, prefixes); the other nodes
//     hear of it on the Bus and stamp it. Route and all purges change the
//     shared namespace versions (Versions) instead.
type l2 struct {
	tier    cache.Tier
	inv     cache.Invalidator // the tier, if it applies purges itself
	timeout time.Duration
	skew    time.Duration // clock skew allowed between nodes
	start   atomic.Int64  // UnixNano: entries stored earlier are not vouched for
	queues  []*l2Queue    // one per writer (see l2Writers)
	seed    maphash.Seed  // picks a key's writer
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once

	failures  atomic.Int32
	openUntil atomic.Int64 // UnixNano: calls skipped until then
	failing   atomic.Bool  // the breaker opened and no call succeeded since (logged once each way)
	log       *slog.Logger

	Hits, Misses, Errors, Refused, Dropped, Written, PurgeErrors atomic.Int64
}

// l2op is a queued write (e set) or delete (e nil). done, if set, is
// called once the op was applied or dropped.
type l2op struct {
	key  string
	e    *cache.Entry
	done func()
	// replaceAfter (not zero): a write-through, written with
	// cache.Replacer.Replace where L2 has it, past the fences of the
	// write's own purge, done by then.
	replaceAfter time.Time
}

// Breaker: after l2BreakerFailures failures in a row, L2 is left alone for
// l2BreakerPause, then tried again.
const (
	l2BreakerFailures = 5
	l2BreakerPause    = time.Second
)

// l2Writers is how many goroutines send the queued L2 writes and deletes.
// One writer waiting for each answer in turn fell behind a few hundred
// fills a second (every write is a round trip or two, and the fill's lease
// is held until its write lands); several keep that many calls in flight,
// which a pipelining client (redisl2) sends to Redis together. Each writer
// owns the URLs that hash to it, so that the ops of one URL stay in order.
const l2Writers = 16

func newL2(t cache.Tier, timeout, skew time.Duration, queue int, start time.Time, distrustOlder bool, log *slog.Logger) *l2 {
	l := &l2{tier: t, timeout: timeout, skew: skew, seed: maphash.MakeSeed(), log: cmp.Or(log, slog.Default()),
		queues: make([]*l2Queue, l2Writers), stop: make(chan struct{}), done: make(chan struct{})}
	l.inv, _ = t.(cache.Invalidator)
	if l.inv == nil || distrustOlder {
		// Purges made while this node was down did not reach L2's entries
		// (only the nodes that held them deleted them), or route purges
		// this node cannot know of (see core.join): none of them is
		// vouched for.
		l.start.Store(start.UnixNano())
	}
	var running sync.WaitGroup
	for i := range l.queues {
		q := &l2Queue{max: max(queue/l2Writers, 1), wake: make(chan struct{}, 1)}
		l.queues[i] = q
		running.Go(func() { l.run(q) })
	}
	go func() {
		running.Wait()
		close(l.done)
	}()
	return l
}

// l2Queue is one writer's queue: a slice that grows as ops arrive and is
// let go once sent, not a buffered channel, which would hold room for all
// of them for the life of the process (2 MiB for an L2Queue of 65,536,
// under the memory limit of 17.4 MiB that a 1 MiB cache.memory sets).
type l2Queue struct {
	mu     sync.Mutex
	ops    []l2op
	max    int
	closed bool          // its writer took the last ops
	wake   chan struct{} // a send says ops may be waiting
}

// push queues op, and reports false if the queue is full or closed.
func (q *l2Queue) push(op l2op) bool {
	q.mu.Lock()
	if len(q.ops) >= q.max || q.closed {
		q.mu.Unlock()
		return false
	}
	q.ops = append(q.ops, op)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns the queued ops, oldest first, and empties the queue; with
// last, the queue takes no more.
func (q *l2Queue) take(last bool) []l2op {
	q.mu.Lock()
	defer q.mu.Unlock()
	ops := q.ops
	q.ops = nil
	q.closed = q.closed || last
	return ops
}

// queueOf is the queue of key's writer: by the key up to its first NUL
// (the URL without scope or variant), so that a URL's variants are sent
// before its Vary marker, and a write before a later delete of its key.
func (l *l2) queueOf(key string) *l2Queue {
	if i := strings.IndexByte(key, 0); i >= 0 {
		key = key[:i]
	}
	return l.queues[maphash.String(l.seed, key)%uint64(len(l.queues))]
}

// run sends the writes and deletes of q in order until close, then what
// is left.
func (l *l2) run(q *l2Queue) {
	for {
		select {
		case <-q.wake:
			l.send(q.take(false))
		case <-l.stop:
			// What is queued goes out; what comes later is dropped (and
			// its done called) by enqueue.
			l.send(q.take(true))
			return
		}
	}
}

func (l *l2) send(ops []l2op) {
	for i := range ops {
		l.apply(ops[i])
		ops[i] = l2op{} // let the entry go
	}
}

func (l *l2) apply(op l2op) {
	if op.done != nil {
		defer op.done()
	}
	if !l.allow() {
		l.Dropped.Add(1)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	var err error
	if r, ok := l.tier.(cache.Replacer); ok && !op.replaceAfter.IsZero() && op.e != nil {
		err = r.Replace(ctx, op.key, op.e, op.replaceAfter)
	} else if op.e != nil {
		err = l.tier.Set(ctx, op.key, op.e)
	} else {
		err = l.tier.Delete(ctx, op.key)
	}
	if errors.Is(err, cache.ErrTooLarge) {
		l.Dropped.Add(1) // the tier's policy, not a failure: the breaker stays shut
		return
	}
	l.result(err)
	if err == nil && op.e != nil {
		l.Written.Add(1)
	}
}

// enqueue queues op, or drops and counts it when the queue is full or
// closed.
func (l *l2) enqueue(op l2op) {
	select {
	case <-l.stop:
		l.drop(op)
		return
	default:
	}
	if !l.queueOf(op.key).push(op) {
		l.drop(op)
	}
}

func (l *l2) drop(op l2op) {
	l.Dropped.Add(1)
	if op.done != nil {
		op.done()
	}
}

// get asks L2 for key under the deadline; any failure is a miss.
func (l *l2) get(ctx context.Context, key string) *cache.Entry {
	if !l.allow() {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	e, err := l.tier.Get(ctx, key)
	l.result(err)
	if err != nil || e == nil || e.Key != key {
		l.Misses.Add(1)
		return nil
	}
	return e
}

func (l *l2) allow() bool {
	until := l.openUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

func (l *l2) result(err error) {
	if err == nil {
		l.failures.Store(0)
		l.openUntil.Store(0)
		if l.failing.Load() && l.failing.CompareAndSwap(true, false) {
			l.log.Info("L2 answers again")
		}
		return
	}
	l.Errors.Add(1)
	if l.failures.Add(1) >= l2BreakerFailures {
		l.failures.Store(0)
		l.openUntil.Store(time.Now().Add(l2BreakerPause).UnixNano())
		if l.failing.CompareAndSwap(false, true) {
			l.log.Warn("L2 failing: requests go without it, and it is tried again every second",
				"failures", l2BreakerFailures, "err", err)
		}
	}
}

// l2PurgeTimeouts is how many lookup deadlines a purge may take in L2:
// it walks indexes and deletes what they name.
const l2PurgeTimeouts = 20

// purgeWait bounds how long a purge waits for L2 to apply it: its own
// call's deadline and as long again for the purges queued before it. A
// write-through's wait holds the write's answer: shorter, and past it the
// write-through is skipped.
func (l *l2) purgeWait(writeThrough bool) time.Duration {
	if writeThrough {
		return max(10*l.timeout, 50*time.Millisecond)
	}
	return max(2*l2PurgeTimeouts*l.timeout, 250*time.Millisecond)
}

// invalidate applies a purge to an L2 that can (see cache.Invalidator),
// under its own deadline. An error means entries of the purge may be left
// in L2: the nodes that are up refuse them (they stamped the purge), but a
// node started later would not.
func (l *l2) invalidate(ctx context.Context, inv cache.Invalidation) error {
	if l.inv == nil || inv.Empty() {
		return nil
	}
	if !l.allow() {
		l.PurgeErrors.Add(1)
		return errors.New("L2 circuit breaker open")
	}
	ctx, cancel := context.WithTimeout(ctx, l2PurgeTimeouts*l.timeout)
	defer cancel()
	_, err := l.inv.Invalidate(ctx, inv)
	l.result(err)
	if err != nil {
		l.PurgeErrors.Add(1)
	}
	return err
}

// distrustUntil stops vouching for entries stored before t.
func (l *l2) distrustUntil(t time.Time) { raiseTime(&l.start, t.UnixNano()) }

// close stops taking writes, sends what is queued (each under the
// deadline) and waits for the writers. It is idempotent.
func (l *l2) close() {
	l.once.Do(func() { close(l.stop) })
	<-l.done
}

// fromL2 looks key up in L2 on an L1 miss and promotes what this node can
// vouch for into L1 (see l2).
func (h *Handler) fromL2(ctx context.Context, key string) *cache.Entry {
	e := h.l2.get(ctx, key)
	if e == nil {
		return nil
	}
	return h.promote(ctx, key, e)
}

// promote stores e, read from L2 under key, into L1 if this node can vouch
// for it, and returns it; or nil.
func (h *Handler) promote(ctx context.Context, key string, e *cache.Entry) *cache.Entry {
	if e.HitForMiss || !h.vouch(e) {
		h.l2.Refused.Add(1)
		return nil
	}
	// Its fill started on another node's clock, which may be ahead of this
	// one's by up to the skew: the copy this node keeps says the earliest
	// it may have started, so that a distrust of what this node holds
	// (trusted) covers it.
	read := e
	c := *e
	c.RequestTime = e.RequestTime.Add(-h.l2.skew)
	e = &c
	// Through the fills' store path: a purge stamped meanwhile either is
	// seen by the second vouch or deletes what was stored. (The second
	// vouch is of the entry as read: vouch allows for the skew itself.)
	err := h.keep(context.WithoutCancel(ctx), key, e, func() bool { return !h.vouch(read) })
	if err != nil {
		if errors.Is(err, cache.ErrIndexFull) || errors.Is(err, errOvertaken) {
			h.l2.Refused.Add(1)
		}
		return nil
	}
	h.l2.Hits.Add(1)
	return e
}

// vouch reports whether this node can serve e, read from L2: not covered
// by a purge stamped here since its fill started, and stored after the
// node stopped trusting older entries (at its start, for an L2 that does
// not apply purges; when the Bus lost purges), both with the allowed clock
// skew.
func (h *Handler) vouch(e *cache.Entry) bool {
	if h.versionsUnknown.Load() {
		return false
	}
	// Its fill's start (RequestTime), not its end: a response that arrived
	// after a purge may have been asked for before it.
	stored := e.RequestTime.Add(-h.l2.skew)
	if at, ok := h.kept.since(e.ID); ok && !at.Before(stored) {
		// A write-through another node stored after a purge this node
		// heard with its ID (see writethrough.go): counted from that
		// purge on, so a later purge still wins.
		stored = at.Add(time.Nanosecond)
	}
	if stored.UnixNano() < h.l2.start.Load() {
		return false
	}
	base := e.Key
	for _, t := range e.Tags {
		if isURLTag(t) {
			base = strings.TrimPrefix(t, urlTagPrefix)
			break
		}
	}
	return !h.gens.purgedAfter(stored, base, cache.PathOf(base), scopeTags(e.Tags, e.Route))
}

// toL2 queues e for L2 (nothing without one). Hit-for-miss markers stay
// on this node.
func (h *Handler) toL2(key string, e *cache.Entry, done func()) {
	h.toL2op(l2op{key: key, e: e, done: done})
}

// toL2op queues op's write for L2 (nothing without one).
func (h *Handler) toL2op(op l2op) {
	if h.l2 != nil && !op.e.HitForMiss {
		h.l2.enqueue(op)
	} else if done := op.done; done != nil {
		done()
	}
}

// deleteL2 queues the deletion of key from L2 (nothing without one).
func (h *Handler) deleteL2(key string) {
	if h.l2 != nil {
		h.l2.enqueue(l2op{key: key})
	}
}

// L2Stats is a snapshot of the L2 tier's counters.
type L2Stats struct {
	Hits    int64 // L2 entries promoted into L1 and served
	Misses  int64 // lookups L2 did not answer (misses, errors, deadlines)
	Refused int64 // entries found but not vouched for (see l2)
	Errors  int64 // L2 calls that failed or timed out
	Written int64 // entries written to L2
	Dropped int64 // writes and deletes dropped: queue full, or the breaker open
	// PurgeErrors counts purges L2 did not apply (errors, deadlines, the
	// breaker open): their entries may remain in L2 (see cache.Invalidator).
	PurgeErrors int64
	Open        bool // the circuit breaker is open: L2 is left alone for now
}

// L2Stats returns the L2 counters, and false without an L2.
func (h *Handler) L2Stats() (L2Stats, bool) {
	if h.l2 == nil {
		return L2Stats{}, false
	}
	l := h.l2
	return L2Stats{
		Hits: l.Hits.Load(), Misses: l.Misses.Load(), Refused: l.Refused.Load(), Errors: l.Errors.Load(),
		Written: l.Written.Load(), Dropped: l.Dropped.Load(), PurgeErrors: l.PurgeErrors.Load(), Open: !l.allow(),
	}, true
}
