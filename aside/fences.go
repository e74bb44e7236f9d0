package aside

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// fences keep a load that an invalidation overtook from storing what it
// loaded: every invalidation takes the next number of a sequence and
// stamps it on the slots of the keys and tags it names (or on all), and a
// load remembers the sequence when it starts. A load whose key or tags
// carry a later stamp may hold what the invalidation meant to remove.
//
// A slot is shared by the keys and tags that hash to it: a false positive
// costs one value not kept, and memory stays fixed whatever is purged.
//
// Stores check after they store, invalidations stamp before they remove:
//
//	load:  index, store ── check stamps ── (stamped: remove)
//	purge:         stamp ── remove what the index names
//
// whatever the interleaving, either the check sees the stamp or the
// removal finds the value.
type fences struct {
	seq   atomic.Uint64
	all   atomic.Uint64 // stamp of the last purge of everything
	allAt atomic.Int64  // UnixNano of it: L2 copies filled before are refused
	seed  maphash.Seed
	slots [fenceSlots]atomic.Uint64
}

const fenceSlots = 1 << 12

// allSkew is the clock skew between nodes allowed for when L2 copies are
// compared with a purge of everything: a copy whose fill started up to
// allSkew after it is refused too (a miss, at worst).
const allSkew = time.Second

func (f *fences) init() { f.seed = maphash.MakeSeed() }

func (f *fences) slot(kind byte, name string) *atomic.Uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	_ = h.WriteByte(kind)
	_, _ = h.WriteString(name)
	return &f.slots[h.Sum64()&(fenceSlots-1)]
}

// now returns the sequence a load starting now remembers.
func (f *fences) now() uint64 { return f.seq.Load() }

// stamp records an invalidation of keys and tags and returns its number.
func (f *fences) stamp(keys, tags []string) uint64 {
	s := f.seq.Add(1)
	for _, k := range keys {
		raise(f.slot('k', k), s)
	}
	for _, t := range tags {
		raise(f.slot('t', t), s)
	}
	return s
}

// stampAll records an invalidation of everything at now.
func (f *fences) stampAll(now time.Time) {
	raise(&f.all, f.seq.Add(1))
	at := now.UnixNano()
	for {
		cur := f.allAt.Load()
		if cur >= at || f.allAt.CompareAndSwap(cur, at) {
			return
		}
	}
}

// crossed reports whether an invalidation of key, of one of tags or of
// everything came after since.
func (f *fences) crossed(since uint64, key string, tags []string) bool {
	if f.all.Load() > since || f.slot('k', key).Load() > since {
		return true
	}
	for _, t := range tags {
		if f.slot('t', t).Load() > since {
			return true
		}
	}
	return false
}

// refused reports whether an L2 copy whose fill started at filled predates
// a purge of everything (or a bus that may have lost purges).
func (f *fences) refused(filled time.Time) bool {
	at := f.allAt.Load()
	return at != 0 && filled.UnixNano() <= at+int64(allSkew)
}

func raise(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if cur >= v || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
