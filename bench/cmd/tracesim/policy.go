package main

import (
	"cmp"
	"container/heap"
	"container/list"
	"context"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/moatproxy/moat/cache"
)

// A policy is a byte-bounded cache replayed one request at a time.
// access reports whether request i (for object o) was a hit; on a miss
// the policy decides whether and how to keep o.
type policy interface {
	name() string
	access(i int, o int32) bool
	close()
}

// weights are what each object costs a cache: the weight moat's L1
// charges (cache.Entry.Size) for an entry with the object's body and key.
// Every policy uses the same weights and the same largest-object rule,
// so they differ only in what they keep.
type weights struct {
	keys   []string
	sizes  []int32 // body bytes
	weight []int64
	bodies []byte // one shared zero buffer; entries slice it
}

func newWeights(t *trace) *weights {
	w := &weights{keys: make([]string, len(t.sizes)), sizes: t.sizes, weight: make([]int64, len(t.sizes))}
	maxSize := int32(0)
	for _, s := range t.sizes {
		maxSize = max(maxSize, s)
	}
	w.bodies = make([]byte, maxSize)
	for o := range t.sizes {
		w.keys[o] = "GET http://api.example.com/api/objects/" + strconv.Itoa(o)
		w.weight[o] = int64(w.entry(int32(o)).Size())
	}
	return w
}

// entry is the cache entry of object o: its key and body, no header
// fields (the same for every policy).
func (w *weights) entry(o int32) *cache.Entry {
	return &cache.Entry{Key: w.keys[o], Status: 200, Body: w.bodies[:w.sizes[o]:w.sizes[o]]} // exact, as moat stores bodies (Size counts cap)
}

// maxObject is the largest weight any policy admits at budget: moat's L1
// caps objects at an eighth of its budget (MemoryOptions.MaxObjectSize),
// and the others get the same rule.
func maxObject(budget int64) int64 { return budget / 8 }

// l1 is moat's L1: cache.Memory (W-TinyLFU whose admission weighs a
// candidate against all the victims it would displace, weighted by
// Entry.Size).
type l1 struct {
	m   *cache.Memory
	w   *weights
	ctx context.Context
}

func newL1(w *weights, budget int64) (*l1, error) {
	m, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: budget, MaxObjectSize: maxObject(budget)})
	if err != nil {
		return nil, err
	}
	return &l1{m: m, w: w, ctx: context.Background()}, nil
}

func (c *l1) name() string { return "moat-L1" }

func (c *l1) access(_ int, o int32) bool {
	key := c.w.keys[o]
	if e, _ := c.m.Get(c.ctx, key); e != nil {
		return true
	}
	_ = c.m.Set(c.ctx, key, c.w.entry(o)) // too large: not stored, as in moat
	return false
}

func (c *l1) close() { c.m.Close() }

// lru is a plain byte-bounded least-recently-used cache.
type lru struct {
	w      *weights
	budget int64
	used   int64
	ll     *list.List // front = most recent; values are object ids
	at     map[int32]*list.Element
}

func newLRU(w *weights, budget int64) *lru {
	return &lru{w: w, budget: budget, ll: list.New(), at: map[int32]*list.Element{}}
}

func (c *lru) name() string { return "LRU" }

func (c *lru) access(_ int, o int32) bool {
	if el, ok := c.at[o]; ok {
		c.ll.MoveToFront(el)
		return true
	}
	wt := c.w.weight[o]
	if wt > maxObject(c.budget) {
		return false
	}
	c.at[o] = c.ll.PushFront(o)
	c.used += wt
	for c.used > c.budget {
		el := c.ll.Back()
		v := el.Value.(int32)
		c.ll.Remove(el)
		delete(c.at, v)
		c.used -= c.w.weight[v]
	}
	return false
}

func (c *lru) close() {}

// beladySize is the offline optimum's stand-in for variable sizes.
//
// With a byte budget and objects of different sizes, maximizing hits
// offline is NP-hard, so this uses the usual approximation ("Belady-Size",
// as in Song et al., "Learning Relaxed Belady for CDN caching", NSDI
// 2020): the victim is the object with the largest size × distance to its
// next request, chosen among `sample` random residents (all of them when
// there are at most `sample`). An object never requested again is not
// admitted. It favours small objects, as an object-hit-ratio optimum
// does. It is near the optimum, not a proven bound.
type beladySize struct {
	w         *weights
	budget    int64
	used      int64
	next      []int32 // next[i]: position of the next request of reqs[i]
	end       int32   // len(reqs): "never again"
	nextOf    []int32 // per object: its next request while resident
	slot      []int32 // per object: its index in residents, or -1
	residents []int32
	sample    int
	rng       *rand.Rand
}

func newBeladySize(w *weights, t *trace, budget int64, sample int) *beladySize {
	c := &beladySize{
		w: w, budget: budget, next: nextUse(t.reqs, len(t.sizes)), end: int32(len(t.reqs)),
		nextOf: make([]int32, len(t.sizes)), slot: make([]int32, len(t.sizes)), sample: sample,
		rng: rand.New(rand.NewPCG(7, 7)),
	}
	for i := range c.slot {
		c.slot[i] = -1
	}
	return c
}

func (c *beladySize) name() string { return "Belady-size" }

func (c *beladySize) access(i int, o int32) bool {
	nu := c.next[i]
	if c.slot[o] >= 0 {
		c.nextOf[o] = nu
		if nu == c.end {
			c.remove(o) // never needed again: free its room now
		}
		return true
	}
	if c.w.weight[o] > maxObject(c.budget) || nu == c.end {
		return false
	}
	c.nextOf[o] = nu
	c.slot[o] = int32(len(c.residents))
	c.residents = append(c.residents, o)
	c.used += c.w.weight[o]
	for c.used > c.budget {
		c.remove(c.victim(int32(i)))
	}
	return false
}

// victim picks the resident with the largest size × distance to its next
// request, among a sample.
func (c *beladySize) victim(now int32) int32 {
	best, bestScore := int32(-1), -1.0
	consider := func(o int32) {
		if s := float64(c.w.weight[o]) * float64(c.nextOf[o]-now); s > bestScore {
			best, bestScore = o, s
		}
	}
	if len(c.residents) <= c.sample {
		for _, o := range c.residents {
			consider(o)
		}
		return best
	}
	for range c.sample {
		consider(c.residents[c.rng.IntN(len(c.residents))])
	}
	return best
}

func (c *beladySize) remove(o int32) {
	i := c.slot[o]
	last := c.residents[len(c.residents)-1]
	c.residents[i] = last
	c.slot[last] = i
	c.residents = c.residents[:len(c.residents)-1]
	c.slot[o] = -1
	c.used -= c.w.weight[o]
}

func (c *beladySize) close() {}

// beladyMIN is Belady's MIN, blind to size: evict the resident whose next
// request is farthest away, and do not admit an object that would itself
// be that victim or is never requested again. With equal sizes it is the
// exact optimum; with variable sizes it shows what perfect knowledge of
// the future gives a policy that, like LRU, ignores size.
type beladyMIN struct {
	w      *weights
	budget int64
	used   int64
	next   []int32
	end    int32
	h      farthest
}

func newBeladyMIN(w *weights, t *trace, budget int64) *beladyMIN {
	c := &beladyMIN{w: w, budget: budget, next: nextUse(t.reqs, len(t.sizes)), end: int32(len(t.reqs))}
	c.h.at = make([]int32, len(t.sizes))
	for i := range c.h.at {
		c.h.at[i] = -1
	}
	return c
}

func (c *beladyMIN) name() string { return "Belady-MIN" }

func (c *beladyMIN) access(i int, o int32) bool {
	nu := c.next[i]
	if at := c.h.at[o]; at >= 0 {
		c.h.items[at].next = nu
		heap.Fix(&c.h, int(at))
		return true
	}
	if c.w.weight[o] > maxObject(c.budget) || nu == c.end {
		return false
	}
	heap.Push(&c.h, item{o: o, next: nu})
	c.used += c.w.weight[o]
	for c.used > c.budget {
		v := heap.Pop(&c.h).(item)
		c.used -= c.w.weight[v.o]
	}
	return false
}

func (c *beladyMIN) close() {}

type item struct {
	o    int32
	next int32
}

// farthest is a max-heap of residents by next request; at maps an object
// to its index in items (-1: not resident).
type farthest struct {
	items []item
	at    []int32
}

func (h *farthest) Len() int           { return len(h.items) }
func (h *farthest) Less(i, j int) bool { return h.items[i].next > h.items[j].next }
func (h *farthest) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.at[h.items[i].o], h.at[h.items[j].o] = int32(i), int32(j)
}
func (h *farthest) Push(x any) {
	it := x.(item)
	h.at[it.o] = int32(len(h.items))
	h.items = append(h.items, it)
}
func (h *farthest) Pop() any {
	it := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	h.at[it.o] = -1
	return it
}

// staticOptimum is the hit ratio of the best fixed set of objects, chosen
// knowing how often each object is requested in the whole trace (but not
// when): greedy by (requests − 1) / weight, the first request of each
// object being a miss. It is the ceiling of a policy that learns
// popularity perfectly but not its changes over time, such as an ideal
// LFU, and the reference for an online policy on a trace whose popularity
// does not change (the Zipf traces).
func staticOptimum(t *trace, w *weights, budget int64) float64 {
	counts := make([]int64, len(t.sizes))
	for _, o := range t.reqs {
		counts[o]++
	}
	var cands []int32
	for o, n := range counts {
		if n >= 2 && w.weight[o] <= maxObject(budget) {
			cands = append(cands, int32(o))
		}
	}
	slices.SortFunc(cands, func(a, b int32) int {
		// (counts[a]-1)/w[a] > (counts[b]-1)/w[b], without division.
		l, r := (counts[a]-1)*w.weight[b], (counts[b]-1)*w.weight[a]
		return cmp.Compare(r, l)
	})
	var used, hits int64
	for _, o := range cands {
		if used+w.weight[o] <= budget {
			used += w.weight[o]
			hits += counts[o] - 1
		}
	}
	return float64(hits) / float64(len(t.reqs))
}

// replay runs t through p and returns the hit ratio.
func replay(t *trace, p policy) float64 {
	hits := 0
	for i, o := range t.reqs {
		if p.access(i, o) {
			hits++
		}
	}
	return float64(hits) / float64(len(t.reqs))
}
