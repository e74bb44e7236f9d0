// Package hotkeys tracks which cache keys are requested most, with bounded
// memory and a cost per request of one shard read-lock and one atomic add.
//
// The gateway calls Observe for every request of a cacheable key. Rate gives
// a key's request rate (for predictive refresh), Top the hottest keys, and
// WriteFile/Run save the top keys so that `moat warm --from hotkeys` can
// re-request them after a restart:
//
//	request ─▶ Observe(key, url) ─▶ shard (by hash of key) ─▶ decayed counter
//	refresh ─▶ Rate(key)                      (requests/second, decayed)
//	Run     ─▶ Top(n) ─▶ WriteFile ─▶ file ─▶ ReadFile ─▶ moat warm
//
// # Algorithm
//
// Each shard runs Space-Saving (Metwally, Agrawal, El Abbadi, "Efficient
// computation of frequent and top-k elements in data streams", ICDT 2005)
// with exponentially decayed weights kept as forward decay (Cormode,
// Shkapenyuk, Srivastava, Xu, "Forward decay", ICDE 2009):
//
//   - An observation at time t adds the weight 2^((t-L)/HalfLife) to its key's
//     counter, where L is the shard's landmark time. Every counter of a shard
//     shares the factor 2^(-(now-L)/HalfLife) that turns it into a decayed
//     count, so time passing changes no counter and no order: counters only
//     grow, by atomic adds under a read lock.
//   - A key not yet tracked, in a full shard, replaces the key with the
//     smallest counter m: it gets the counter m+w and remembers m as its
//     error. The minimum is found with a min-heap that is repaired lazily
//     (its order is by the counter value last seen; as counters only grow,
//     a root whose counter has not changed is the true minimum).
//   - Counters are fixed-point integers. When t-L reaches 4 half-lives the
//     shard moves L forward by whole half-lives and halves every counter
//     once per half-life (a right shift), so weights stay below 2^20 units.
//
// Error bound: per shard, the counters sum to the decayed weight W_s of every
// observation of a key hashed to it, so the smallest counter is at most
// W_s/k_s, where k_s is the shard's capacity. Hence any key whose decayed
// count exceeds W_s/k_s is tracked, and for a tracked key
//
//	counter - error  ≤  true decayed count  ≤  counter,  error ≤ W_s/k_s.
//
// With keys spread evenly over shards, W_s/k_s ≈ W/Capacity: a key that
// receives more than 1/Capacity of the recent traffic is never evicted, by
// any number of one-off keys. Rate and Top report the lower bound,
// counter - error, so a key that has just displaced another does not inherit
// the other's rate and a scan of one-off keys never ranks above real traffic.
//
// A decayed count C relates to a rate r by C = r/λ in steady state, with
// λ = ln 2/HalfLife; Rate returns λ·C. One request that is not repeated
// gives λ (about 0.0116/s for a 1m half-life), halving every HalfLife.
package hotkeys

import (
	"hash/maphash"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// Options configure a Tracker. The zero value is usable.
type Options struct {
	// Capacity is the most keys tracked at once. Default 10,000. Memory is
	// about 100 bytes per key plus the key and URL strings.
	Capacity int
	// HalfLife is how fast old requests stop counting: a key's rate halves
	// after HalfLife without requests. Default 1 minute.
	HalfLife time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

const (
	defaultCapacity = 10_000
	defaultHalfLife = time.Minute

	// unitShift fixes a weight of 1 at the landmark to 2^16 counter units.
	unitShift = 16
	// renormalizeAfter is the age of the landmark, in half-lives, at which a
	// shard moves it: weights stay below 2^(unitShift+renormalizeAfter).
	// Counters stay below 2^64 while rate × HalfLife < about 10^13
	// (one million requests/second with a 100-day half-life).
	renormalizeAfter = 4

	maxShards        = 64
	minShardCapacity = 64
)

// Tracker records request rates per key. Its methods are safe for
// concurrent use. A nil *Tracker tracks nothing: Observe does nothing, Rate
// returns 0, Top nil and Run returns at once, so a gateway without tracking
// needs no branches.
type Tracker struct {
	shards   []*shard
	mask     uint64
	seed     maphash.Seed
	halfLife time.Duration
	perNano  float64 // half-lives per nanosecond
	lambda   float64 // ln 2 / half-life in seconds
	now      func() time.Time
	capacity int

	writes      atomic.Int64
	writeErrors atomic.Int64
}

// Stats is a snapshot of a Tracker's counters.
type Stats struct {
	Tracked     int   // keys tracked now, ≤ Capacity
	Capacity    int   // the bound
	Evictions   int64 // keys displaced by new keys
	Writes      int64 // files written by WriteFile (and so Run)
	WriteErrors int64 // failed writes
}

// New returns a Tracker. Zero or negative options take their defaults.
func New(o Options) *Tracker {
	if o.Capacity <= 0 {
		o.Capacity = defaultCapacity
	}
	if o.HalfLife <= 0 {
		o.HalfLife = defaultHalfLife
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Enough shards to spread concurrent writers, few enough that each
	// holds minShardCapacity keys: Space-Saving's bound is per shard.
	n := 1
	for n < maxShards && o.Capacity/(n*2) >= minShardCapacity {
		n *= 2
	}
	t := &Tracker{
		shards:   make([]*shard, n),
		mask:     uint64(n - 1),
		seed:     maphash.MakeSeed(),
		halfLife: o.HalfLife,
		perNano:  1 / float64(o.HalfLife),
		lambda:   math.Ln2 / o.HalfLife.Seconds(),
		now:      o.Now,
		capacity: o.Capacity,
	}
	start := o.Now()
	for i := range t.shards {
		c := o.Capacity / n
		if i < o.Capacity%n {
			c++
		}
		t.shards[i] = &shard{capacity: c, landmark: start}
	}
	return t
}

// Observe records one request of key at Options.Now. url is the request's
// path and query as a client can send it again (for warm-up); the URL of the
// observation that started tracking key is kept. Observe does not allocate
// when key is already tracked.
//
// WARNING: url is written to the hot-keys file. Pass only URLs of responses
// that are shared (not user-scoped) and that carry no credentials (an
// api_key in the query): anything passed here ends up on disk and is
// re-requested by `moat warm`.
//
// WARNING: when key is new, the Tracker keeps key and url as they are, with
// no copy. They must not alias a buffer that is reused (unsafe.String over
// a pooled []byte), or a tracked key changes under the Tracker.
func (t *Tracker) Observe(key, url string) {
	if t == nil {
		return
	}
	t.ObserveAt(key, url, t.now())
}

// ObserveAt is Observe at a time the caller has already read from the same
// clock as Options.Now (the request's arrival time, say), which saves a clock
// read on the request path.
func (t *Tracker) ObserveAt(key, url string, now time.Time) {
	t.observe(key, url, now, 1)
}

// ObserveN records n requests of key at once: a caller that reports only a
// sample of its requests (one in n) keeps rates and rankings true.
func (t *Tracker) ObserveN(key, url string, n int) {
	if t == nil || n < 1 {
		return
	}
	t.observe(key, url, t.now(), uint64(n))
}

func (t *Tracker) observe(key, url string, now time.Time, n uint64) {
	if t == nil {
		return
	}
	s := t.shardOf(key)
	s.mu.RLock()
	if w, ok := s.weight(now, t.perNano); ok {
		if i, found := s.index[key]; found {
			s.entries[i].count.Add(w * n)
			s.mu.RUnlock()
			return
		}
	}
	s.mu.RUnlock()

	s.mu.Lock()
	s.renormalize(now, t.halfLife)
	w, _ := s.weight(now, t.perNano)
	s.insert(key, url, w*n)
	s.mu.Unlock()
}

// Rate returns key's decayed request rate in requests per second (a lower
// bound, see the package comment), or 0 if key is not tracked.
func (t *Tracker) Rate(key string) float64 {
	if t == nil {
		return 0
	}
	now := t.now()
	s := t.shardOf(key)
	s.mu.RLock()
	i, ok := s.index[key]
	var c uint64
	if ok {
		c = s.entries[i].lowerBound()
	}
	landmark := s.landmark
	s.mu.RUnlock()
	if !ok {
		return 0
	}
	return t.rate(c, landmark, now)
}

// Hot is one tracked key.
type Hot struct {
	Key  string
	URL  string
	Rate float64 // requests/second, decayed
}

// Top returns up to n tracked keys, hottest first (ties by key). It takes
// each shard's read lock in turn and costs O(Capacity log Capacity); call it
// from a background task, not per request.
func (t *Tracker) Top(n int) []Hot {
	if t == nil || n <= 0 {
		return nil
	}
	now := t.now()
	var all []Hot
	for _, s := range t.shards {
		s.mu.RLock()
		for i := range s.entries {
			e := &s.entries[i]
			if c := e.lowerBound(); c > 0 {
				all = append(all, Hot{Key: e.key, URL: e.url, Rate: t.rate(c, s.landmark, now)})
			}
		}
		s.mu.RUnlock()
	}
	slices.SortFunc(all, func(a, b Hot) int {
		if a.Rate != b.Rate {
			if a.Rate > b.Rate {
				return -1
			}
			return 1
		}
		if a.Key < b.Key {
			return -1
		}
		if a.Key > b.Key {
			return 1
		}
		return 0
	})
	if len(all) > n {
		all = slices.Clip(all[:n])
	}
	return all
}

// Stats returns the Tracker's counters.
func (t *Tracker) Stats() Stats {
	if t == nil {
		return Stats{}
	}
	st := Stats{Capacity: t.capacity, Writes: t.writes.Load(), WriteErrors: t.writeErrors.Load()}
	for _, s := range t.shards {
		s.mu.RLock()
		st.Tracked += len(s.entries)
		st.Evictions += s.evictions
		s.mu.RUnlock()
	}
	return st
}

func (t *Tracker) shardOf(key string) *shard {
	return t.shards[maphash.String(t.seed, key)&t.mask]
}

// rate converts counter units at a landmark to requests/second at now.
func (t *Tracker) rate(c uint64, landmark, now time.Time) float64 {
	halfLives := float64(now.Sub(landmark)) / float64(t.halfLife)
	return t.lambda * math.Ldexp(float64(c), -unitShift) * math.Exp2(-halfLives)
}
