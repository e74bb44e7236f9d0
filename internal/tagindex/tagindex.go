// Package tagindex maps tags to the keys of the values that carry them, so
// that a purge by tag finds every value without a scan. cache.TagIndex
// (entries of the HTTP cache) and package aside (typed values) are both
// this index.
//
// It has no bound of its own unless given a pair cap: its owner counts each
// pair in its value's weight and calls Remove when its store removes the
// value, so the index never holds more than the store does. Remove drops a
// pair only if it still points at the removed value (pointer identity):
// the late removal of a replaced value does not unindex its successor.
// Maps that shrank to a quarter of a peak of at least shrinkMin are rebuilt,
// since Go maps keep their peak capacity: an index that once held a flood's
// pairs gives that memory back.
package tagindex

import (
	"errors"
	"sync"
)

// ErrFull is returned by Add when the index has a pair cap and is at it.
var ErrFull = errors.New("tag index full")

// Index maps tags to the keys of the *V that carry them. The zero value is
// not usable; use New.
type Index[V any] struct {
	mu       sync.Mutex
	tags     map[string]*set[V]
	peak     int // high-water mark of len(tags) since tags was built
	pairs    int
	maxPairs int
}

// set holds the keys of one tag. Most tags name one value (product:42):
// its pair is kept inline, in 24 bytes, because a map holding one pair
// costs about 250; many takes over from the second pair on.
type set[V any] struct {
	key  string
	v    *V
	many *pairs[V]
}

type pairs[V any] struct {
	m    map[string]*V
	peak int // high-water mark of len(m) since m was built
}

// shrinkMin is the peak length below which a map is not rebuilt when it
// shrinks: small maps are cheap, and rebuilding them would cost more than
// it gives back.
const shrinkMin = 64

// New returns an index holding at most maxPairs (tag, key) pairs, or any
// number when maxPairs <= 0.
func New[V any](maxPairs int) *Index[V] {
	return &Index[V]{tags: make(map[string]*set[V]), maxPairs: max(maxPairs, 0)}
}

// Fits reports whether n more pairs fit now: always without a pair cap.
func (x *Index[V]) Fits(n int) bool {
	if x.maxPairs <= 0 || n == 0 {
		return true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.pairs+n <= x.maxPairs
}

// Add indexes v under key for each of tags, replacing what key had. With a
// pair cap, it adds nothing and returns ErrFull if the new pairs would not
// fit.
func (x *Index[V]) Add(key string, tags []string, v *V) error {
	if len(tags) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.maxPairs > 0 {
		add := 0
		for _, t := range tags {
			if !x.tags[t].has(key) {
				add++
			}
		}
		if x.pairs+add > x.maxPairs {
			return ErrFull
		}
	}
	for _, t := range tags {
		s := x.tags[t]
		if s == nil {
			x.tags[t] = &set[V]{key: key, v: v}
			x.peak = max(x.peak, len(x.tags))
			x.pairs++
			continue
		}
		if s.put(key, v) {
			x.pairs++
		}
	}
	return nil
}

// Remove unindexes key for each of tags where the index still holds v.
func (x *Index[V]) Remove(key string, tags []string, v *V) {
	if len(tags) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range tags {
		s := x.tags[t]
		if s == nil || !s.remove(key, v) {
			continue
		}
		x.pairs--
		if s.empty() {
			delete(x.tags, t)
		}
	}
	if x.peak >= shrinkMin && len(x.tags) < x.peak/4 {
		tags := make(map[string]*set[V], len(x.tags))
		for t, s := range x.tags {
			tags[t] = s
		}
		x.tags, x.peak = tags, len(tags)
	}
}

// Keys returns the keys of the values carrying tag (a snapshot, never nil).
func (x *Index[V]) Keys(tag string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.tags[tag]
	switch {
	case s == nil:
		return []string{}
	case s.many == nil:
		return []string{s.key}
	}
	keys := make([]string, 0, len(s.many.m))
	for k := range s.many.m {
		keys = append(keys, k)
	}
	return keys
}

// Len returns the number of tags and of (tag, key) pairs.
func (x *Index[V]) Len() (tags, pairs int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.tags), x.pairs
}

func (s *set[V]) has(key string) bool {
	switch {
	case s == nil:
		return false
	case s.many == nil:
		return s.key == key
	}
	_, ok := s.many.m[key]
	return ok
}

// put sets key's pair to v and reports whether the pair is new.
func (s *set[V]) put(key string, v *V) bool {
	if s.many == nil {
		if s.key == key {
			s.v = v
			return false
		}
		s.many = &pairs[V]{m: map[string]*V{s.key: s.v, key: v}, peak: 2}
		s.key, s.v = "", nil
		return true
	}
	p := s.many
	n := len(p.m)
	p.m[key] = v
	p.peak = max(p.peak, len(p.m))
	return len(p.m) > n
}

// remove drops key's pair if it points at v and reports whether it did. A
// map that shrinks to one pair goes back inline, and one that shrinks to a
// quarter of its peak is rebuilt.
func (s *set[V]) remove(key string, v *V) bool {
	if s.many == nil {
		if s.key != key || s.v != v {
			return false
		}
		s.key, s.v = "", nil
		return true
	}
	p := s.many
	if cur, ok := p.m[key]; !ok || cur != v {
		return false
	}
	delete(p.m, key)
	switch {
	case len(p.m) == 1:
		for k, val := range p.m {
			s.key, s.v = k, val
		}
		s.many = nil
	case p.peak >= shrinkMin && len(p.m) < p.peak/4:
		m := make(map[string]*V, len(p.m))
		for k, val := range p.m {
			m[k] = val
		}
		p.m, p.peak = m, len(m)
	}
	return true
}

func (s *set[V]) empty() bool { return s.many == nil && s.v == nil }
