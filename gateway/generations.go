package gateway

import (
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
// Stamps older than keep are pruned; the floor then rises to the newest
// pruned generation, and a fill that started below the floor is treated as
// purged (it is older than any fill should be).
type generations struct {
	seq   atomic.Uint64
	mu    sync.Mutex
	keep  time.Duration
	floor uint64
	tags  map[string]stamp
	keys  map[string]stamp
	pfx   map[string]stamp
	last  time.Time // last prune
}

type stamp struct {
	gen uint64
	at  time.Time
}

func newGenerations(keep time.Duration) *generations {
	return &generations{keep: keep, tags: map[string]stamp{}, keys: map[string]stamp{}, pfx: map[string]stamp{}}
}

func (g *generations) current() uint64 { return g.seq.Load() }

// stamp records a purge of the given tags, keys and prefixes at now.
func (g *generations) stamp(now time.Time, tags, keys, prefixes []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := stamp{gen: g.seq.Add(1), at: now}
	for _, t := range tags {
		g.tags[t] = s
	}
	for _, k := range keys {
		g.keys[k] = s
	}
	for _, p := range prefixes {
		g.pfx[p] = s
	}
	if now.Sub(g.last) > g.keep/4 {
		g.prune(now)
	}
}

func (g *generations) prune(now time.Time) {
	g.last = now
	for _, m := range []map[string]stamp{g.tags, g.keys, g.pfx} {
		for k, s := range m {
			if now.Sub(s.at) > g.keep {
				g.floor = max(g.floor, s.gen)
				delete(m, k)
			}
		}
	}
}

// purgedSince reports whether a fill that started at generation since was
// overtaken by a purge of its key, its path (by prefix) or its tags.
func (g *generations) purgedSince(since uint64, key, path string, tags []string) bool {
	if g.seq.Load() == since {
		return false // no purge at all since the fill started: the common case
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if since < g.floor {
		return true
	}
	if s, ok := g.keys[key]; ok && s.gen > since {
		return true
	}
	for _, t := range tags {
		if s, ok := g.tags[t]; ok && s.gen > since {
			return true
		}
	}
	for p, s := range g.pfx {
		if s.gen > since && strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}
