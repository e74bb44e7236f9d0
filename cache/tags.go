package cache

import (
	"errors"
	"sync"
)

// ErrIndexFull is returned by TagIndex.Add when the index is at capacity.
var ErrIndexFull = errors.New("cache: tag index full")

// TagIndex maps surrogate keys (tags) to the cache keys of the entries
// that carry them, so a tag purge finds every entry without a scan.
//
// It is bounded: at most MaxPairs (tag, key) pairs. An entry that cannot be
// indexed must not be stored, or a purge of its tags would miss it; Add
// reports that. It stays consistent with evictions when its owner calls
// Remove from the tier's removal hook (see MemoryOptions.OnRemove): Remove
// only drops a pair that still points at the removed entry, so the late
// removal notice of a replaced entry does not unindex its successor.
//
// The zero value is not usable; use NewTagIndex.
type TagIndex struct {
	mu       sync.Mutex
	tags     map[string]map[string]*Entry
	pairs    int
	maxPairs int
}

// NewTagIndex returns an index holding at most maxPairs (tag, key) pairs
// (default 1,000,000 when maxPairs <= 0).
func NewTagIndex(maxPairs int) *TagIndex {
	if maxPairs <= 0 {
		maxPairs = 1_000_000
	}
	return &TagIndex{tags: make(map[string]map[string]*Entry), maxPairs: maxPairs}
}

// Add indexes e under key for each of e.Tags, replacing what key had.
func (x *TagIndex) Add(key string, e *Entry) error {
	if len(e.Tags) == 0 {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	add := 0
	for _, t := range e.Tags {
		if _, ok := x.tags[t][key]; !ok {
			add++
		}
	}
	if x.pairs+add > x.maxPairs {
		return ErrIndexFull
	}
	for _, t := range e.Tags {
		m := x.tags[t]
		if m == nil {
			m = make(map[string]*Entry)
			x.tags[t] = m
		}
		m[key] = e
	}
	x.pairs += add
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
		m := x.tags[t]
		if cur, ok := m[key]; ok && cur == e {
			delete(m, key)
			x.pairs--
			if len(m) == 0 {
				delete(x.tags, t)
			}
		}
	}
}

// Keys returns the keys of the entries carrying tag (a snapshot).
func (x *TagIndex) Keys(tag string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := x.tags[tag]
	keys := make([]string, 0, len(m))
	for k := range m {
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
