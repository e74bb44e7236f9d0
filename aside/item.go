package aside

import (
	"math"
	"sync/atomic"
	"time"
	"unsafe"
)

// item is what L1 holds for a key: a value (or a remembered error) and its
// times. Items are immutable once stored; a reload stores a new one.
type item[V any] struct {
	tagged // the tag index points at it (see package tagindex)
	v      V
	err    error         // a remembered load error (Options.CacheErrors)
	id     uint64        // the cache.Entry.ID of the value's L2 copy
	fresh  int64         // UnixNano: fresh before
	swr    int64         // UnixNano: served stale while revalidating before
	sie    int64         // UnixNano: served stale instead of an error before
	ttl    time.Duration // freshness lifetime, for refresh-ahead
	delta  time.Duration // how long the load took, XFetch's delta
	weight uint32
	// refreshing is set by the first hit that starts an early reload, so
	// that the others do not try again.
	refreshing atomic.Bool
}

// tagged is the part of an item the tag index knows: its address tells the
// item apart from its successors under the same key.
type tagged struct{ tags []string }

// state is what an item allows at a given time.
type state uint8

const (
	stateFresh   state = iota // serve
	stateStale                // serve, and reload in the background
	stateExpired              // reload first; serve it only if the reload fails within StaleIfError
	stateDead                 // past every window
)

func (it *item[V]) state(now int64) state {
	switch {
	case now < it.fresh:
		return stateFresh
	case it.err != nil:
		return stateDead
	case now < it.swr:
		return stateStale
	case now < it.sie:
		return stateExpired
	}
	return stateDead
}

// keepUntil is when L1 may drop the item.
func (it *item[V]) keepUntil() int64 { return max(it.fresh, it.swr, it.sie) }

// Weight accounting, in bytes (64-bit platforms). The weigher counts the
// value (Options.Size), the key, the item and what otter keeps per entry
// (entryOverhead), and for each tag the string and its pair in the tag
// index (tagPairBytes, as cache.Entry.Size counts it), so that the index
// lives inside MaxBytes too.
const (
	entryOverhead     = 80 + 34 + 16 // otter's node, its share of the hash table and of the admission sketch
	tagPairBytes      = 88
	stringHeaderBytes = 16
)

func (c *Cache[V]) weigh(key string, size int, tags []string) uint32 {
	n := int(unsafe.Sizeof(item[V]{})) + entryOverhead + len(key) + max(size, 0)
	if len(tags) > 0 {
		n += cap(tags) * stringHeaderBytes
		for _, t := range tags {
			n += len(t) + tagPairBytes
		}
	}
	return uint32(min(n, math.MaxUint32))
}
