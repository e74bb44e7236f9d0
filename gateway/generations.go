package gateway

import (
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
//
// Each slot (and prefix) also keeps the wall-clock time of its newest
// purge, for entries that did not start as a fill on this node: an entry
// read from a shared L2 tier was stored by some node at its ResponseTime,
// and is not promoted into L1 if a purge that covers it was stamped here
// after that (purgedAfter).
type generations struct {
	seq     atomic.Uint64
	floor   atomic.Uint64
	floorAt atomic.Int64
	seed    maphash.Seed
	slots   [generationSlots]atomic.Uint64
	times   [generationSlots]atomic.Int64 // UnixNano of the newest purge per slot

	now func() time.Time // the handler's clock, which entries' ResponseTime is read from

	mu  sync.Mutex
	pfx map[string]prefixStamp
}

type prefixStamp struct {
	gen uint64
	at  int64 // UnixNano
}

const (
	// generationSlots is the number of key and tag slots: 1 MiB with their
	// times. With a
	// thousand writes in flight during one fill, the chance that the fill
	// is refused for another key's purge is under 2%.
	generationSlots = 1 << 16
	maxPrefixStamps = 1024
)

func newGenerations(now func() time.Time) *generations {
	if now == nil {
		now = time.Now
	}
	return &generations{seed: maphash.MakeSeed(), now: now, pfx: map[string]prefixStamp{}}
}

func (g *generations) current() uint64 { return g.seq.Load() }

// Slot domains, so that a tag and a key of the same spelling do not share
// a slot by construction.
const (
	domainKey byte = 'k'
	domainTag byte = 't'
)

func (g *generations) index(domain byte, s string) uint64 {
	var h maphash.Hash
	h.SetSeed(g.seed)
	h.WriteByte(domain)
	h.WriteString(s)
	return h.Sum64() & (generationSlots - 1)
}

func (g *generations) slot(domain byte, s string) *atomic.Uint64 {
	return &g.slots[g.index(domain, s)]
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
func (g *generations) stamp(tags, keys, prefixes []string) uint64 {
	gen := g.seq.Add(1)
	at := g.now().UnixNano()
	for _, t := range tags {
		i := g.index(domainTag, t)
		raise(&g.slots[i], gen)
		raiseTime(&g.times[i], at)
	}
	for _, k := range keys {
		i := g.index(domainKey, k)
		raise(&g.slots[i], gen)
		raiseTime(&g.times[i], at)
	}
	if len(prefixes) == 0 {
		return gen
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range prefixes {
		g.pfx[p] = prefixStamp{gen, at}
	}
	for len(g.pfx) > maxPrefixStamps {
		oldest, os := "", prefixStamp{}
		for p, s := range g.pfx {
			if oldest == "" || s.gen < os.gen {
				oldest, os = p, s
			}
		}
		delete(g.pfx, oldest)
		raise(&g.floor, os.gen)
		raiseTime(&g.floorAt, os.at)
	}
	return gen
}

// raiseTime stores t in a unless a holds a later time.
func raiseTime(a *atomic.Int64, t int64) {
	for {
		cur := a.Load()
		if cur >= t || a.CompareAndSwap(cur, t) {
			return
		}
	}
}

// purgedAfter reports whether a purge of key, of a prefix of path or of one
// of tags was stamped here at or after t (conservatively: slots are shared
// by hash).
func (g *generations) purgedAfter(t time.Time, key, path string, tags []string) bool {
	at := t.UnixNano()
	if g.floorAt.Load() >= at || g.times[g.index(domainKey, key)].Load() >= at {
		return true
	}
	for _, tag := range tags {
		if g.times[g.index(domainTag, tag)].Load() >= at {
			return true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for p, s := range g.pfx {
		if s.at >= at && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
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
		if s.gen > since && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// distrust treats every fill in flight and everything stamped before now as
// purged: the floor rises to a new generation and to now.
func (g *generations) distrust(now time.Time) {
	raise(&g.floor, g.seq.Add(1))
	raiseTime(&g.floorAt, now.UnixNano())
}
