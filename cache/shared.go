package cache

import (
	"context"
	"slices"
	"strings"
)

// SharedMemory is an in-process stand-in for a shared tier: a Memory that
// indexes what it holds by tag and by path segment (PrefixTags) and so is
// an Invalidator, the way the Redis tier is. Several gateways of one
// process (tests, a fleet simulated in one binary) can use it as their L2.
// Its index is counted in the byte budget: the prefix tags are stored as
// the entry's tags (and removed from what Get returns).
type SharedMemory struct {
	*Memory
	idx *TagIndex
}

var _ Invalidator = (*SharedMemory)(nil)

// NewSharedMemory returns a SharedMemory; o.OnRemove is kept and called
// after the tier's own bookkeeping.
func NewSharedMemory(o MemoryOptions) (*SharedMemory, error) {
	s := &SharedMemory{idx: NewTagIndex(0)}
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

// Set stores e with its tags and its path's prefix tags indexed.
func (s *SharedMemory) Set(ctx context.Context, key string, e *Entry) error {
	c := *e
	c.Tags = append(slices.Clip(e.Tags), PrefixTags(PathOf(key))...)
	if err := s.idx.Add(key, &c); err != nil {
		return err
	}
	if err := s.Memory.Set(ctx, key, &c); err != nil {
		s.idx.Remove(key, &c)
		return err
	}
	return nil
}

// Invalidate implements Invalidator.
func (s *SharedMemory) Invalidate(ctx context.Context, inv Invalidation) (int, error) {
	keys := slices.Clone(inv.Keys)
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
