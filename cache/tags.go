package cache

import (
	"errors"

	"github.com/moatproxy/moat/internal/tagindex"
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
type TagIndex struct{ x *tagindex.Index[Entry] }

// NewTagIndex returns an index holding at most maxPairs (tag, key) pairs,
// or any number when maxPairs <= 0 (see TagIndex for how it is bounded
// then).
func NewTagIndex(maxPairs int) *TagIndex {
	return &TagIndex{tagindex.New[Entry](maxPairs)}
}

// Fits reports whether e's tags fit in the index now: always without a
// pair cap; with one, whether the pairs of e would stay within it (counting
// every tag as new, so it may say no where replacing an entry would fit).
// A response that does not fit is not stored, and a cache must not say it
// stored it.
func (x *TagIndex) Fits(e *Entry) bool { return x.x.Fits(len(e.Tags)) }

// Add indexes e under key for each of e.Tags, replacing what key had.
func (x *TagIndex) Add(key string, e *Entry) error {
	if err := x.x.Add(key, e.Tags, e); err != nil {
		return ErrIndexFull
	}
	return nil
}

// Remove unindexes key for each of e.Tags where the index still holds e.
func (x *TagIndex) Remove(key string, e *Entry) { x.x.Remove(key, e.Tags, e) }

// Keys returns the keys of the entries carrying tag (a snapshot).
func (x *TagIndex) Keys(tag string) []string { return x.x.Keys(tag) }

// Len returns the number of tags and of (tag, key) pairs.
func (x *TagIndex) Len() (tags, pairs int) { return x.x.Len() }
