package aside

import "sync"

// tagIndex maps tags to the L1 keys of the items that carry them, so that
// Invalidate finds them without a scan. It has no bound of its own: each
// pair is counted in its item's weight, and the Cache removes an item's
// pairs when L1 removes the item (eviction, expiry, replacement, delete),
// so the index never holds more than L1 does. A pair is removed only if it
// still points at the removed item: the late removal of a replaced item
// does not unindex its successor.
//
// Go maps keep their peak capacity; maps that shrank to a quarter of a
// peak of at least shrinkMin are rebuilt, so that an index that once held
// a flood gives that memory back.
type tagIndex struct {
	mu    sync.Mutex
	tags  map[string]*tagKeys
	peak  int
	pairs int
}

// tagKeys holds the keys of one tag. Most tags name one item (book:42):
// its pair is kept inline; many takes over from the second pair on.
type tagKeys struct {
	key  string
	it   *tagged
	many map[string]*tagged
	peak int
}

const shrinkMin = 64

func newTagIndex() *tagIndex { return &tagIndex{tags: map[string]*tagKeys{}} }

// add indexes it under key for each of its tags.
func (x *tagIndex) add(key string, it *tagged) {
	if len(it.tags) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range it.tags {
		s := x.tags[t]
		if s == nil {
			x.tags[t] = &tagKeys{key: key, it: it}
			x.peak = max(x.peak, len(x.tags))
			x.pairs++
			continue
		}
		if s.put(key, it) {
			x.pairs++
		}
	}
}

// remove unindexes key for each of it's tags where the index still points
// at it.
func (x *tagIndex) remove(key string, it *tagged) {
	if len(it.tags) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, t := range it.tags {
		s := x.tags[t]
		if s == nil || !s.remove(key, it) {
			continue
		}
		x.pairs--
		if s.it == nil && s.many == nil {
			delete(x.tags, t)
		}
	}
	if x.peak >= shrinkMin && len(x.tags) < x.peak/4 {
		m := make(map[string]*tagKeys, len(x.tags))
		for t, s := range x.tags {
			m[t] = s
		}
		x.tags, x.peak = m, len(m)
	}
}

// keys returns the keys of the items carrying tag (a snapshot).
func (x *tagIndex) keys(tag string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.tags[tag]
	switch {
	case s == nil:
		return nil
	case s.many == nil:
		return []string{s.key}
	}
	keys := make([]string, 0, len(s.many))
	for k := range s.many {
		keys = append(keys, k)
	}
	return keys
}

// size returns the number of tags and of (tag, key) pairs.
func (x *tagIndex) size() (tags, pairs int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.tags), x.pairs
}

// put sets key's pair to it and reports whether the pair is new.
func (s *tagKeys) put(key string, it *tagged) bool {
	if s.many == nil {
		if s.key == key {
			s.it = it
			return false
		}
		s.many = map[string]*tagged{s.key: s.it, key: it}
		s.key, s.it, s.peak = "", nil, 2
		return true
	}
	n := len(s.many)
	s.many[key] = it
	s.peak = max(s.peak, len(s.many))
	return len(s.many) > n
}

// remove drops key's pair if it points at it, and reports whether it did.
func (s *tagKeys) remove(key string, it *tagged) bool {
	if s.many == nil {
		if s.key != key || s.it != it {
			return false
		}
		s.key, s.it = "", nil
		return true
	}
	if cur, ok := s.many[key]; !ok || cur != it {
		return false
	}
	delete(s.many, key)
	switch {
	case len(s.many) == 1:
		for k, v := range s.many {
			s.key, s.it = k, v
		}
		s.many, s.peak = nil, 0
	case s.peak >= shrinkMin && len(s.many) < s.peak/4:
		m := make(map[string]*tagged, len(s.many))
		for k, v := range s.many {
			m[k] = v
		}
		s.many, s.peak = m, len(m)
	}
	return true
}
