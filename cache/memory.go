package cache

import (
	"context"
	"errors"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/maypok86/otter/v2"
)

// MemoryOptions configure a Memory tier. The zero value is usable: 64 MiB,
// objects up to 1/8 of it, the system clock.
type MemoryOptions struct {
	// MaxBytes bounds the bytes held, as Entry.Size estimates them: the
	// heap the entries, the tier's bookkeeping and the entries' TagIndex
	// pairs take, within a few percent. The process needs more: the
	// garbage collector's headroom and the runtime's own (see "Memory
	// bound" in docs/benchmarks.md). Default 64 MiB.
	MaxBytes int64
	// MaxObjectSize rejects larger entries with ErrTooLarge. Default
	// MaxBytes/8, and capped there: one entry could otherwise displace
	// most of the cache, and W-TinyLFU admits it only if it is requested
	// more often than all of them together.
	MaxObjectSize int64
	// Now is the clock used to compute how long to keep entries. Default
	// time.Now.
	Now func() time.Time
	// OnRemove, if set, is called when an entry leaves the tier for any
	// reason (eviction, expiry, Delete, replacement by Set), while the
	// tier's lock for the key is held (and, for an eviction, an expiry or
	// a replacement, the lock of its eviction policy): it must be quick
	// and must not call the tier.
	OnRemove func(key string, e *Entry)
}

// Memory is the in-process L1 tier: a byte-bounded cache (cost =
// Entry.Size) that drops entries at their KeepUntil.
//
// Data flow: entries live in an otter cache without bound or expiry, a
// concurrent map whose reads take no lock. What to keep within MaxBytes is
// decided by moat's own policy (policy.go: W-TinyLFU with size-aware
// admission), and when to drop an entry by an expiry heap (expiry.go),
// both under mu. A hit does not take mu: it appends the entry's node to a
// lossy buffer (hitbuffer.go), replayed into the policy by the next Set,
// by the Get that finds its stripe of it full if mu is free, or by the
// once-a-second sweep that also drops expired entries. A removal the
// policy did not decide (Delete, replacement by Set) reaches it through
// the removed list.
type Memory struct {
	c        *otter.Cache[string, *node]
	clock    *otter.CoarseClock
	maxObj   int64
	now      func() time.Time
	seed     maphash.Seed // of the nodes' hashes
	hits     hitBuffer
	evicted  atomic.Uint64
	expired  atomic.Uint64
	rejected atomic.Uint64
	stop     chan struct{} // closed by Close: ends the sweep
	closing  sync.Once

	// mu guards the policy and the expiry heap. It is held while calling
	// into c (whose OnAtomicDeletion then runs under it), and never waited
	// for under c's locks (only TryLock there).
	mu      sync.Mutex
	policy  *policy
	expiry  expiryHeap
	target  *node                                                // removeNode's: the node to remove,
	removed bool                                                 // and whether it was
	remove  func(old *node, found bool) (*node, otter.ComputeOp) // m.removeTarget, made once

	removedMu sync.Mutex // a leaf lock: taken under c's bucket locks and under mu
	gone      []*node    // left c without mu's decision; not yet out of the policy
	spare     []*node    // gone's other buffer, guarded by mu
}

// A node is an entry as the tier holds it: the value stored in otter, an
// element of the policy's queues and of the expiry heap. It is kept to 64
// bytes (a size class): with otter's 24-byte node and the heap's 8-byte
// slot, the tier's bookkeeping is the 96 bytes entryOverhead in Entry.Size
// counts for it. That is also why its hash is 32 bits.
type node struct {
	key     string
	entry   *Entry
	expires int64 // on m.clock, in nanoseconds
	// Guarded by Memory.mu.
	prev, next *node
	weight     uint32 // Entry.Size, capped at 4 GiB
	heapAt     int32
	hash       uint32 // of key, for the policy's sketch
	queue      uint8
}

var _ Tier = (*Memory)(nil)

// MemoryStats is a snapshot of a Memory tier's counters.
type MemoryStats struct {
	Hits, Misses     uint64
	Entries          int
	Bytes, MaxBytes  uint64
	Evictions        uint64 // dropped to make room (size)
	Expirations      uint64 // dropped at KeepUntil
	RejectedTooLarge uint64
}

// sweepEvery is how often expired entries are dropped when no Set does it.
const sweepEvery = time.Second

// NewMemory returns a Memory tier.
func NewMemory(o MemoryOptions) (*Memory, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.MaxBytes < 0 {
		return nil, errors.New("cache: MemoryOptions.MaxBytes must be positive")
	}
	if o.MaxObjectSize <= 0 || o.MaxObjectSize > o.MaxBytes/8 {
		o.MaxObjectSize = min(max(o.MaxObjectSize, 0), o.MaxBytes/8)
		if o.MaxObjectSize == 0 {
			o.MaxObjectSize = o.MaxBytes / 8
		}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// A coarse clock: reads cost an atomic load instead of a clock read on
	// every Get. Expiry here only frees memory (freshness is the gateway's
	// business), so a millisecond of slack is harmless.
	m := &Memory{maxObj: o.MaxObjectSize, now: o.Now, clock: otter.NewCoarseClock(time.Millisecond), stop: make(chan struct{})}
	m.seed = maphash.MakeSeed()
	m.policy = newPolicy(o.MaxBytes, m.evict)
	m.remove = m.removeTarget
	c, err := otter.New(&otter.Options[string, *node]{
		// Atomic: runs during the removal itself, on the removing goroutine,
		// instead of one goroutine per event; a purge of 100k entries
		// would otherwise start 100k goroutines. OnRemove therefore runs
		// under a bucket lock and must not call the tier.
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *node]) {
			if o.OnRemove != nil {
				o.OnRemove(e.Key, e.Value.entry)
			}
			m.forget(e.Value)
		},
	})
	if err != nil {
		m.clock.Stop()
		return nil, err
	}
	m.c = c
	// Weak, so that a tier dropped without Close can still be collected
	// (its sweep then ends).
	go sweep(weak.Make(m), m.stop)
	return m, nil
}

// Get returns the entry stored under key, or nil.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	n, ok := m.c.GetIfPresent(key)
	if !ok || n.expires <= m.clock.NowNano() {
		return nil, nil
	}
	if full := m.hits.add(n); full != nil && m.mu.TryLock() {
		// Its stripe is full: replay it, unless a Set holds the lock (this
		// hit is then not counted, which only blurs the policy's view).
		full.drain(m.policy)
		m.mu.Unlock()
		m.hits.add(n)
	}
	return n.entry, nil
}

// Set stores e under key unless it is larger than MaxObjectSize.
func (m *Memory) Set(_ context.Context, key string, e *Entry) error {
	size := int64(e.Size())
	if size > m.maxObj {
		m.rejected.Add(1)
		m.c.Invalidate(key)
		return ErrTooLarge
	}
	keep := 24 * time.Hour
	if !e.KeepUntil.IsZero() {
		keep = max(e.KeepUntil.Sub(m.now()), time.Millisecond)
	}
	n := &node{key: key, entry: e, expires: m.clock.NowNano() + int64(keep), weight: uint32(min(size, math.MaxUint32)),
		heapAt: -1, hash: uint32(maphash.String(m.seed, key))}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.c.Set(key, n)
	// The node n replaced, if any, leaves the policy before n is counted.
	// A Delete may have removed n itself already: then it is not added.
	// If one removes it after this drain, the next drain takes it out.
	if !m.drainGone(n) {
		m.expiry.push(n) // first: the policy may turn n away at once
		m.policy.add(n)
	}
	m.hits.drain(m.policy)
	m.expire()
	return nil
}

// Delete removes key.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.c.Invalidate(key)
	return nil
}

// DeleteIf removes key while it holds the entry whose ID is id, and
// reports whether it did: a writer that takes back its own entry never
// removes a later writer's.
func (m *Memory) DeleteIf(key string, id uint64) bool {
	removed := false
	m.c.Compute(key, func(old *node, found bool) (*node, otter.ComputeOp) {
		if found && old.entry.ID == id {
			removed = true
			return nil, otter.InvalidateOp
		}
		return old, otter.CancelOp
	})
	return removed
}

// Range calls fn for every entry until fn returns false. The view is weakly
// consistent: entries stored or removed during the walk may or may not be
// seen.
func (m *Memory) Range(fn func(key string, e *Entry) bool) {
	for k, n := range m.c.All() {
		if n.expires <= m.clock.NowNano() {
			continue
		}
		if !fn(k, n.entry) {
			return
		}
	}
}

// Stats returns a snapshot of the tier's counters.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	m.drainGone(nil)
	bytes, maxBytes := m.policy.weightedSize(), m.policy.maximum
	m.mu.Unlock()
	return MemoryStats{
		Entries:          m.c.EstimatedSize(),
		Bytes:            uint64(bytes),
		MaxBytes:         uint64(maxBytes),
		Evictions:        m.evicted.Load(),
		Expirations:      m.expired.Load(),
		RejectedTooLarge: m.rejected.Load(),
	}
}

// Close stops the tier's background goroutines. It is idempotent.
func (m *Memory) Close() error {
	m.closing.Do(func() {
		close(m.stop)
		m.clock.Stop()
	})
	return nil
}

// sweep drops expired entries and replays buffered hits once a second,
// for a tier that receives no Set, until Close or until the tier is
// collected.
func sweep(w weak.Pointer[Memory], stop <-chan struct{}) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m := w.Value()
			if m == nil {
				return
			}
			m.mu.Lock()
			m.drainGone(nil)
			m.hits.drain(m.policy)
			m.expire()
			m.mu.Unlock()
		}
	}
}

// expire drops the entries whose time has come. mu must be held.
func (m *Memory) expire() {
	now := m.clock.NowNano()
	for n := m.expiry.expired(now); n != nil; n = m.expiry.expired(now) {
		m.expiry.remove(n)
		m.policy.remove(n)
		if m.removeNode(n) {
			m.expired.Add(1)
		}
	}
}

// evict removes n, which the policy has let go, from the store. mu is
// held.
func (m *Memory) evict(n *node) {
	m.expiry.remove(n)
	if m.removeNode(n) {
		m.evicted.Add(1)
	}
}

// removeNode removes n from the store unless its key now holds another
// node, and reports whether it did. mu must be held.
func (m *Memory) removeNode(n *node) bool {
	m.target, m.removed = n, false
	m.c.Compute(n.key, m.remove)
	m.target = nil
	return m.removed
}

func (m *Memory) removeTarget(old *node, found bool) (*node, otter.ComputeOp) {
	if found && old == m.target {
		m.removed = true
		return nil, otter.InvalidateOp
	}
	return old, otter.CancelOp
}

// forget hands n, which has left the store, to the policy: now if mu is
// free, else at the next Set or sweep. It runs under one of otter's bucket
// locks, and maybe under mu (an eviction, a replacement by Set): it must
// not wait for mu.
func (m *Memory) forget(n *node) {
	m.removedMu.Lock()
	m.gone = append(m.gone, n)
	many := len(m.gone) >= 256
	m.removedMu.Unlock()
	// The list keeps the removed entries reachable (a purge of 100k
	// entries, for one): drain it when it grows.
	if many && m.mu.TryLock() {
		m.drainGone(nil)
		m.mu.Unlock()
	}
}

// drainGone takes out of the policy and the expiry heap the nodes that
// left the store, and reports whether added (which Set has stored but not
// yet added to the policy) is one of them. mu must be held.
func (m *Memory) drainGone(added *node) (found bool) {
	m.removedMu.Lock()
	list := m.gone
	m.gone = m.spare[:0]
	m.removedMu.Unlock()
	for _, n := range list {
		found = found || n == added
		m.policy.remove(n)
		m.expiry.remove(n)
	}
	clear(list)
	m.spare = list[:0]
	return found
}
