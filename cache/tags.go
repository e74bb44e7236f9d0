package cache

import (
	"errors"
	"sync"
)

// ErrIndexFull is returned by TagIndex.Add when the index has a pair cap
// and is at it.
var ErrIndexFull = errors.New("cache: tag index full")

// TagIndex maps surrogate keys (tags) to the cache keys of the entries
// that carry them, so a tag purge finds every entry without a scan.
//
// It has no bound of its own by default: Entry.Size counts the entry's
// pairs (tagPairBytes each), so the byte budget of the tier that holds the
// entries bounds the index too, provided the index follows the tier's
// removals: its owner calls Remove from the tier's removal hook (see
// MemoryOptions.OnRemove). Remove only drops a pair that still points at
// the removed entry, so the late removal notice of a replaced entry does
// not unindex its successor. Maps that shrank to a quarter of their peak
// are rebuilt, since Go maps keep their peak capacity: an index that once
// held a flood's pairs gives that memory back.
//
// WARNING: an index fed by a tier that is not bounded by bytes, or whose
// removals do not reach Remove, grows without limit; give it a pair cap
// (NewTagIndex(maxPairs)). With a cap, an entry that cannot be indexed must
// not be stored, or a purge of its tags would miss it; Add reports that.
// A cap lets junk fill the index and keep every tagged response on every
// route out of the cache until the junk expires, which is why it is off by
// default.
//
// The zero value is not usable; use NewTagIndex.
type TagIndex struct {
	mu       sync.Mutex
	tags     map[string]*tagSet
	peak     int // high-water mark of len(tags) since tags was built
	pairs    int
	maxPairs int
}

// tagSet holds the keys of the entries carrying one tag. Most tags name one
// entry (product:42): its pair is kept in key and e, in 32 bytes, because a
// map holding one pair costs about 250; many takes over from the second
// pair on.
type tagSet struct {
	key  string
	e    *Entry
	many *tagMap
}

type tagMap struct {
	m    map[string]*Entry
	peak int // high-water mark of len(m) since m was built
}

// shrinkMin is the peak length below which a map is not rebuilt when it
// shrinks: small maps are cheap, and rebuilding them would cost more than it
// gives back.
const shrinkMin = 64

// NewTagIndex returns an index holding at most maxPairs (tag, key) pairs,
// or any number when maxPairs <= 0 (see TagIndex for how it is bounded
// then).
func NewTagIndex(maxPairs int) *TagIndex {
	return &TagIndex{tags: make(map[string]*tagSet), maxPairs: max(maxPairs, 0)}
}

// Fits reports whether e's tags fit in the index now: always without a
// pair cap; with one, whether the pairs of e would stay within it (counting
// every tag as new, so it may say no where replacing an entry would fit).
// A response that does not fit is not stored, and a cache must not say it
// stored it.
func (x *TagIndex) Fits(e *Entry) bool {
	if x.maxPairs <= 0 || len(e.Tags) == 0 {
		return true
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.pairs+len(e.Tags) <= x.maxPairs
}

// Add indexes e under key for each of e.Tags, replacing what key had.
func (x *TagIndex) Add(key string, e *Entry) error {
	if len(e.Tags) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.maxPairs > 0 {
		add := 0
		for _, t := range e.Tags {
			if !x.tags[t].has(key) {
				add++
			}
		}
		if x.pairs+add > x.maxPairs {
			return ErrIndexFull
		}
	}
	for _, t := range e.Tags {
		s := x.tags[t]
		if s == nil {
			x.tags[t] = &tagSet{key: key, e: e}
			x.peak = max(x.peak, len(x.tags))
			x.pairs++
			continue
		}
		if s.put(key, e) {
			x.pairs++
		}
	}
	return nil
}

// Remove unindexes key for each of e.Tags where the index still holds e.
func (x *TagIndex) Remove(key string, e *Entry) {
	if len(e.Tags) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range e.Tags {
		s := x.tags[t]
		if s == nil || !s.remove(key, e) {
			continue
		}
		x.pairs--
		if s.empty() {
			delete(x.tags, t)
		}
	}
	if x.peak >= shrinkMin && len(x.tags) < x.peak/4 {
		tags := make(map[string]*tagSet, len(x.tags))
		for t, s := range x.tags {
			tags[t] = s
		}
		x.tags, x.peak = tags, len(tags)
	}
}

// Keys returns the keys of the entries carrying tag (a snapshot).
func (x *TagIndex) Keys(tag string) []string {
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
func (x *TagIndex) Len() (tags, pairs int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.tags), x.pairs
}

func (s *tagSet) has(key string) bool {
	switch {
	case s == nil:
		return false
	case s.many == nil:
		return s.key == key
	}
	_, ok := s.many.m[key]
	return ok
}

// put sets key's pair to e and reports whether the pair is new.
func (s *tagSet) put(key string, e *Entry) bool {
	if s.many == nil {
		if s.key == key {
			s.e = e
			return false
		}
		s.many = &tagMap{m: map[string]*Entry{s.key: s.e, key: e}, peak: 2}
		s.key, s.e = "", nil
		return true
	}
	t := s.many
	n := len(t.m)
	t.m[key] = e
	t.peak = max(t.peak, len(t.m))
	return len(t.m) > n
}

// remove drops key's pair if it points at e and reports whether it did. A
// map that shrinks to one pair goes back inline, and one that shrinks to a
// quarter of its peak is rebuilt.
func (s *tagSet) remove(key string, e *Entry) bool {
	if s.many == nil {
		if s.key != key || s.e != e {
			return false
		}
		s.key, s.e = "", nil
		return true
	}
	t := s.many
	if cur, ok := t.m[key]; !ok || cur != e {
		return false
	}
	delete(t.m, key)
	switch {
	case len(t.m) == 1:
		for k, v := range t.m {
			s.key, s.e = k, v
		}
		s.many = nil
	case t.peak >= shrinkMin && len(t.m) < t.peak/4:
		m := make(map[string]*Entry, len(t.m))
		for k, v := range t.m {
			m[k] = v
		}
		t.m, t.peak = m, len(m)
	}
	return true
}

func (s *tagSet) empty() bool { return s.many == nil && s.e == nil }
