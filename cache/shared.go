package cache

import (
	"context"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SharedMemory is an in-process stand-in for a shared tier: a Memory that
// indexes what it holds by tag and by path segment (PrefixTags) and so is
// an Invalidator, the way the Redis tier is. Several gateways of one
// process (tests, a fleet simulated in one binary) can use it as their L2.
// Its index is counted in the byte budget: the prefix tags are stored as
// the entry's tags (and removed from what Get returns).
type SharedMemory struct {
	*Memory
	idx   *TagIndex
	now   func() time.Time
	seed  maphash.Seed
	fence [fenceSlots]atomic.Int64 // UnixNano of the newest invalidation per hashed key or tag
	// keyLocks make a Set's check of its key's fence and its store one
	// step against an Invalidate's stamp of that key (as the Redis tier's
	// script does): a fill a write overtook cannot land between the
	// write's invalidation and its Replace.
	keyLocks [64]sync.Mutex
}

// fenceSlots hold the invalidation times that fence Sets: a key or tag
// shares its slot with others (a false positive costs one entry not kept
// in L2), and memory stays fixed whatever is purged.
const fenceSlots = 1 << 14

var _ Replacer = (*SharedMemory)(nil)

// NewSharedMemory returns a SharedMemory; o.OnRemove is kept and called
// after the tier's own bookkeeping.
func NewSharedMemory(o MemoryOptions) (*SharedMemory, error) {
	s := &SharedMemory{idx: NewTagIndex(0), now: o.Now, seed: maphash.MakeSeed()}
	if s.now == nil {
		s.now = time.Now
	}
	onRemove := o.OnRemove
	o.OnRemove = func(k string, e *Entry) {
		s.idx.Remove(k, e)
		if onRemove != nil {
			onRemove(k, e)
		}
	}
	m, err := NewMemory(o)
	if err != nil {
		return nil, err
	}
	s.Memory = m
	return s, nil
}

// Get returns the entry under key without the tier's own prefix tags.
func (s *SharedMemory) Get(ctx context.Context, key string) (*Entry, error) {
	e, err := s.Memory.Get(ctx, key)
	if e == nil || err != nil {
		return e, err
	}
	n := slices.IndexFunc(e.Tags, func(t string) bool { return strings.HasPrefix(t, prefixTagStart) })
	if n < 0 {
		return e, nil
	}
	c := *e
	c.Tags = e.Tags[:n:n]
	return &c, nil
}

// Set stores e with its tags and its path's prefix tags indexed, unless an
// invalidation covering it came after its fill started (see Invalidator).
// Checked before it is stored, so that a fill a write overtook does not
// replace the write's entry (Replace); and checked again after: whatever
// the interleaving with Invalidate, either that check sees the
// invalidation or the invalidation removes the entry.
func (s *SharedMemory) Set(ctx context.Context, key string, e *Entry) error {
	if e.RequestTime.IsZero() || s.now().Sub(e.RequestTime) > FenceFor {
		return s.set(ctx, key, e, 0)
	}
	return s.set(ctx, key, e, e.RequestTime.UnixNano())
}

// Replace implements Replacer: fenced by invalidations after `after` only.
func (s *SharedMemory) Replace(ctx context.Context, key string, e *Entry, after time.Time) error {
	return s.set(ctx, key, e, after.UnixNano()+1)
}

// set stores e, and removes it again if an invalidation covering it was
// stamped at or after since (UnixNano; 0: none is checked).
func (s *SharedMemory) set(ctx context.Context, key string, e *Entry, since int64) error {
	c := *e
	c.Tags = append(slices.Clip(e.Tags), PrefixTags(PathOf(key))...)
	if since != 0 {
		mu := s.keyLock(key)
		mu.Lock()
		defer mu.Unlock()
		if s.fenced(key, &c, since) {
			return nil
		}
	}
	if err := s.idx.Add(key, &c); err != nil {
		return err
	}
	if err := s.Memory.Set(ctx, key, &c); err != nil {
		s.idx.Remove(key, &c)
		return err
	}
	if since != 0 && s.fenced(key, &c, since) {
		s.Memory.DeleteIf(key, c.ID) // not a later writer's entry
	}
	return nil
}

func (s *SharedMemory) keyLock(key string) *sync.Mutex {
	return &s.keyLocks[maphash.String(s.seed, key)%uint64(len(s.keyLocks))]
}

func (s *SharedMemory) slot(kind byte, name string) *atomic.Int64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteByte(kind)
	h.WriteString(name)
	return &s.fence[h.Sum64()&(fenceSlots-1)]
}

// fenced reports whether an invalidation of key or of one of c's tags was
// made at or after c's fill started.
func (s *SharedMemory) fenced(key string, c *Entry, start int64) bool {
	if s.slot('k', key).Load() >= start {
		return true
	}
	for _, t := range c.Tags {
		if s.slot('t', t).Load() >= start {
			return true
		}
	}
	return false
}

func (s *SharedMemory) stamp(kind byte, name string, at int64) {
	a := s.slot(kind, name)
	for {
		cur := a.Load()
		if cur >= at || a.CompareAndSwap(cur, at) {
			return
		}
	}
}

// Invalidate implements Invalidator.
func (s *SharedMemory) Invalidate(ctx context.Context, inv Invalidation) (int, error) {
	// Fences first, removals after (see Set).
	at := s.now().UnixNano()
	keys := slices.Clone(inv.Keys)
	for _, k := range inv.Keys {
		mu := s.keyLock(k)
		mu.Lock()
		s.stamp('k', k, at)
		mu.Unlock()
	}
	for _, t := range inv.Tags {
		s.stamp('t', t, at)
	}
	for _, p := range inv.Prefixes {
		s.stamp('t', PrefixTag(p), at)
	}
	for _, t := range inv.Tags {
		keys = append(keys, s.idx.Keys(t)...)
	}
	for _, p := range inv.Prefixes {
		keys = append(keys, s.idx.Keys(PrefixTag(p))...)
	}
	n := 0
	for _, k := range keys {
		if e, _ := s.Memory.Get(ctx, k); e != nil {
			n++
		}
		if err := s.Memory.Delete(ctx, k); err != nil {
			return n, err
		}
	}
	return n, nil
}
