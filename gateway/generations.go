package gateway

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
)

// generations make invalidation stick: every purge advances a counter and
// stamps what it purged (tags, keys, path prefixes) with the new value. A
// fill remembers the counter when it starts; when it is about to store, it
// asks purgedSince, and a fill that started before a purge of its key, one
// of its tags or a prefix of its path does not store. So a slow origin
// response already in flight never undoes a purge.
//
// Concurrency: the fill stores first (index, then tier) and checks after;
// the purge stamps first and deletes after. Whatever the interleaving,
// either the fill sees the stamp and removes what it stored, or the purge's
// deletion comes after the store and removes it.
//
// Memory is fixed, whatever clients do: every 2xx answer to a write stamps
// its URL, so remembering each URL would let a flood of POSTs to distinct
// URLs grow memory without bound. Keys and tags are stamped into a fixed
// array of slots chosen by a seeded hash (a slot keeps the newest
// generation of everything that hashes to it), so a fill may be refused
// because of a purge of another key in its slot: a false positive costs one
// entry not stored, a purge is never missed. Prefixes (admin purges only)
// are kept exactly, at most maxPrefixStamps; past that the oldest is
// dropped and the floor rises to its generation: a fill that started
// below the floor is treated as purged.
type generations struct {
	seq   atomic.Uint64
	floor atomic.Uint64
	seed  maphash.Seed
	slots [generationSlots]atomic.Uint64

	mu  sync.Mutex
	pfx map[string]uint64
}

const (
	// generationSlots is the number of key and tag slots: 512 KiB. With a
	// thousand writes in flight during one fill, the chance that the fill
	// is refused for another key's purge is under 2%.
	generationSlots = 1 << 16
	maxPrefixStamps = 1024
)

func newGenerations() *generations {
	return &generations{seed: maphash.MakeSeed(), pfx: map[string]uint64{}}
}

func (g *generations) current() uint64 { return g.seq.Load() }

// Slot domains, so that a tag and a key of the same spelling do not share
// a slot by construction.
const (
	domainKey byte = 'k'
	domainTag byte = 't'
)

func (g *generations) slot(domain byte, s string) *atomic.Uint64 {
	var h maphash.Hash
	h.SetSeed(g.seed)
	h.WriteByte(domain)
	h.WriteString(s)
	return &g.slots[h.Sum64()&(generationSlots-1)]
}

// raise stores gen in a unless a holds a newer one.
func raise(a *atomic.Uint64, gen uint64) {
	for {
		cur := a.Load()
		if cur >= gen || a.CompareAndSwap(cur, gen) {
			return
		}
	}
}

// stamp records a purge of the given tags, keys and prefixes.
func (g *generations) stamp(tags, keys, prefixes []string) {
	gen := g.seq.Add(1)
	for _, t := range tags {
		raise(g.slot(domainTag, t), gen)
	}
	for _, k := range keys {
		raise(g.slot(domainKey, k), gen)
	}
	if len(prefixes) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range prefixes {
		g.pfx[p] = gen
	}
	for len(g.pfx) > maxPrefixStamps {
		oldest, og := "", uint64(0)
		for p, s := range g.pfx {
			if oldest == "" || s < og {
				oldest, og = p, s
			}
		}
		delete(g.pfx, oldest)
		raise(&g.floor, og)
	}
}

// purgedSince reports whether a fill that started at generation since was
// overtaken by a purge of its key, its path (by prefix) or its tags.
func (g *generations) purgedSince(since uint64, key, path string, tags []string) bool {
	if g.seq.Load() == since {
		return false // no purge at all since the fill started: the common case
	}
	if since < g.floor.Load() {
		return true
	}
	if g.slot(domainKey, key).Load() > since {
		return true
	}
	for _, t := range tags {
		if g.slot(domainTag, t).Load() > since {
			return true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, s := range g.pfx {
		if s > since && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
