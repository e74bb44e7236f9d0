package hotkeys

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// A shard is one Space-Saving summary over the keys that hash to it.
//
// Locking: a known key's counter grows by an atomic add under the read lock,
// so concurrent requests of tracked keys never wait for each other. Anything
// else (a new key, an eviction, the heap, moving the landmark) takes the
// write lock. Counters only grow while the read lock is held; the lazy heap
// in min relies on it.
type shard struct {
	mu        sync.RWMutex
	landmark  time.Time        // weights are 2^((t-landmark)/halfLife) units
	index     map[string]int32 // key → position in entries
	entries   []entry          // len ≤ capacity; never shrinks
	heap      []int32          // entry positions, a min-heap by heapCount
	capacity  int
	evictions int64

	_ [64]byte // keep neighbouring shards' locks off this cache line
}

type entry struct {
	key, url  string
	count     atomic.Uint64 // counter units; grows under the read lock
	err       uint64        // the counter inherited from the key displaced
	heapCount uint64        // count when the heap last placed this entry, ≤ count
}

// lowerBound is the guaranteed part of the counter.
func (e *entry) lowerBound() uint64 { return e.count.Load() - e.err }

// weight returns the counter units of one observation at now,
// 2^(unitShift + (now-landmark)/halfLife), or false when the landmark is too
// old and the shard must renormalize first. It interpolates a table of
// 2^(i/256) (relative error < 10^-6): math.Exp2 would double the cost of
// Observe.
func (s *shard) weight(now time.Time, perNanosecond float64) (uint64, bool) {
	halfLives := float64(now.Sub(s.landmark)) * perNanosecond
	if halfLives >= renormalizeAfter {
		return 0, false
	}
	if halfLives < 0 {
		// A clock that went backwards: an observation from "before" the
		// landmark weighs less than one unit; count at least one.
		return max(uint64(math.Exp2(unitShift+halfLives)), 1), true
	}
	x := halfLives * exp2Steps
	i := int(x) // < renormalizeAfter*exp2Steps
	whole, step := i/exp2Steps, i%exp2Steps
	lo := exp2Table[step]
	frac := lo + (exp2Table[step+1]-lo)*(x-float64(i))
	return uint64(frac * float64(uint64(1)<<(unitShift+whole))), true
}

const exp2Steps = 256

// exp2Table[i] is 2^(i/exp2Steps).
var exp2Table = func() (t [exp2Steps + 1]float64) {
	for i := range t {
		t[i] = math.Exp2(float64(i) / exp2Steps)
	}
	return t
}()

// renormalize moves the landmark forward by whole half-lives once it is
// renormalizeAfter half-lives old, halving every counter once per half-life.
// The shift preserves the order of counters and count ≥ heapCount ≥ err.
// Called with the write lock held.
func (s *shard) renormalize(now time.Time, halfLife time.Duration) {
	k := now.Sub(s.landmark) / halfLife
	if k < renormalizeAfter {
		return
	}
	s.landmark = s.landmark.Add(k * halfLife)
	shift := uint64(k) // ≥ 64 clears a counter, as it should
	for i := range s.entries {
		e := &s.entries[i]
		e.count.Store(e.count.Load() >> shift)
		e.heapCount >>= shift
		e.err >>= shift
	}
}

// insert adds w to key's counter, tracking key if it is new: in a free slot,
// or in place of the key with the smallest counter, whose counter it
// inherits as its error. Called with the write lock held.
func (s *shard) insert(key, url string, w uint64) {
	if i, ok := s.index[key]; ok { // tracked by another writer meanwhile
		s.entries[i].count.Add(w)
		return
	}
	if s.entries == nil {
		s.entries = make([]entry, 0, s.capacity)
		s.heap = make([]int32, 0, s.capacity)
		s.index = make(map[string]int32, s.capacity)
	}
	if n := len(s.entries); n < s.capacity {
		s.entries = s.entries[:n+1] // a zero entry: slots are never reused this way
		e := &s.entries[n]
		e.key, e.url, e.heapCount = key, url, w
		e.count.Store(w)
		s.index[key] = int32(n)
		s.heap = append(s.heap, int32(n))
		s.up(len(s.heap) - 1)
		return
	}
	i := s.min()
	e := &s.entries[i]
	delete(s.index, e.key)
	m := e.count.Load()
	e.key, e.url, e.err = key, url, m
	e.count.Store(m + w)
	e.heapCount = m + w
	s.down(0) // i is the root
	s.index[key] = i
	s.evictions++
}

// min returns the position of the entry with the smallest counter, which is
// the heap's root. The heap is ordered by heapCount, which may lag behind
// count; counters only grow, so a root whose heapCount is current is
// smaller than or equal to every other entry's count. Otherwise the root is
// brought up to date and sifted down, and the root checked again; each
// entry is repaired at most once. Called with the write lock held.
func (s *shard) min() int32 {
	for {
		i := s.heap[0]
		e := &s.entries[i]
		live := e.count.Load()
		if live == e.heapCount {
			return i
		}
		e.heapCount = live
		s.down(0)
	}
}

func (s *shard) less(a, b int) bool {
	return s.entries[s.heap[a]].heapCount < s.entries[s.heap[b]].heapCount
}

func (s *shard) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !s.less(j, p) {
			return
		}
		s.heap[j], s.heap[p] = s.heap[p], s.heap[j]
		j = p
	}
}

func (s *shard) down(j int) {
	n := len(s.heap)
	for {
		c := 2*j + 1
		if c >= n {
			return
		}
		if r := c + 1; r < n && s.less(r, c) {
			c = r
		}
		if !s.less(c, j) {
			return
		}
		s.heap[j], s.heap[c] = s.heap[c], s.heap[j]
		j = c
	}
}
