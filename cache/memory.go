package cache

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"

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
	// MaxBytes/8; it is capped at MaxBytes/8 because W-TinyLFU's window
	// must be able to hold an entry for it to be admitted.
	MaxObjectSize int64
	// Now is the clock used to compute how long to keep entries. Default
	// time.Now.
	Now func() time.Time
	// OnRemove, if set, is called when an entry leaves the tier for any
	// reason (eviction, expiry, Delete, replacement by Set), while the
	// tier's lock for the key is held: it must be quick and must not call
	// the tier.
	OnRemove func(key string, e *Entry)
}

// Memory is the in-process L1 tier: a byte-bounded otter cache (W-TinyLFU
// admission and eviction, cost = Entry.Size) that drops entries at their
// KeepUntil.
type Memory struct {
	c        *otter.Cache[string, *Entry]
	clock    *otter.CoarseClock
	maxObj   int64
	now      func() time.Time
	evicted  atomic.Uint64
	expired  atomic.Uint64
	rejected atomic.Uint64
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
	m := &Memory{maxObj: o.MaxObjectSize, now: o.Now, clock: otter.NewCoarseClock(time.Millisecond)}
	c, err := otter.New(&otter.Options[string, *Entry]{
		MaximumWeight: uint64(o.MaxBytes),
		Weigher: func(_ string, e *Entry) uint32 {
			return uint32(min(e.Size(), math.MaxUint32))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(oe otter.Entry[string, *Entry]) time.Duration {
			d := oe.Value.KeepUntil.Sub(m.now())
			if oe.Value.KeepUntil.IsZero() {
				d = 24 * time.Hour
			}
			return max(d, time.Millisecond)
		}),
		Clock: m.clock,
		// Atomic: runs during the removal itself, on the removing goroutine,
		// instead of one goroutine per event; a purge of 100k entries
		// would otherwise start 100k goroutines. OnRemove therefore runs
		// under a bucket lock and must not call the tier.
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *Entry]) {
			if o.OnRemove != nil {
				o.OnRemove(e.Key, e.Value)
			}
			switch e.Cause {
			case otter.CauseOverflow:
				m.evicted.Add(1)
			case otter.CauseExpiration:
				m.expired.Add(1)
			}
		},
	})
	if err != nil {
		m.clock.Stop()
		return nil, err
	}
	m.c = c
	return m, nil
}

// Get returns the entry stored under key, or nil.
func (m *Memory) Get(_ context.Context, key string) (*Entry, error) {
	e, _ := m.c.GetIfPresent(key)
	return e, nil
}

// Set stores e under key unless it is larger than MaxObjectSize.
func (m *Memory) Set(_ context.Context, key string, e *Entry) error {
	if int64(e.Size()) > m.maxObj {
		m.rejected.Add(1)
		m.c.Invalidate(key)
		return ErrTooLarge
	}
	m.c.Set(key, e)
	return nil
}

// Delete removes key.
func (m *Memory) Delete(_ context.Context, key string) error {
	m.c.Invalidate(key)
	return nil
}

// Range calls fn for every entry until fn returns false. The view is weakly
// consistent: entries stored or removed during the walk may or may not be
// seen.
func (m *Memory) Range(fn func(key string, e *Entry) bool) {
	for k, v := range m.c.All() {
		if !fn(k, v) {
			return
		}
	}
}

// Stats returns a snapshot of the tier's counters.
func (m *Memory) Stats() MemoryStats {
	return MemoryStats{
		Entries:          m.c.EstimatedSize(),
		Bytes:            m.c.WeightedSize(),
		MaxBytes:         m.c.GetMaximum(),
		Evictions:        m.evicted.Load(),
		Expirations:      m.expired.Load(),
		RejectedTooLarge: m.rejected.Load(),
	}
}

// Close stops the tier's background goroutines. It is idempotent.
func (m *Memory) Close() error {
	m.c.StopAllGoroutines()
	m.clock.Stop()
	return nil
}
