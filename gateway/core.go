package gateway

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
)

// core is what the handlers of one cache share: the handler New made and
// those Reload made from it. It outlives each of them, and is closed with
// the last (see Handler.Close).
type core struct {
	tier  cache.Tier
	group cache.Group
	gens  *generations
	tags  *cache.TagIndex
	fills *fillBudget
	l2    *l2
	lease Lease

	publish  func(Purge) // to the Bus
	leaveBus func()
	// distrustBefore (UnixNano, 0: none): L1 entries stored before it are
	// not served (the Bus may have lost purges; see distrust).
	distrustBefore atomic.Int64
	// versionsUnknown: the shared versions could not be read yet (see
	// loadVersionsUntilDone); nothing from L2 is vouched for meanwhile.
	versionsUnknown atomic.Bool
	versionStore    Versions
	versionTimeout  time.Duration
	purges          *purgeQueue   // L2 invalidations and publishing, in order, retried
	closing         chan struct{} // closed when the last handler closes
	bg              sync.WaitGroup
	ownedMemory     *cache.Memory
	now             func() time.Time

	mu   sync.Mutex
	live []*Handler // in the order they were made; the last is current
	// past are the last handlers closed (a ring): a URL purge removes
	// the URL's entries under their keys too, which a reload back to
	// their configuration would find again.
	past     [8]*Handler
	pastNext int
	cur      atomic.Pointer[Handler] // the newest live handler
	refs     int                     // live handlers plus those being built

	stats      Stats
	leaseStats leaseCounters
	seen       purgeIDs    // the IDs of the last purges, applied once
	kept       keptEntries // write-throughs other nodes stored after their purge
}

// newCore makes the shared part of o's handler (see New).
func newCore(o Options) (*core, error) {
	if _, ok := o.Tier.(ranger); o.Tier != nil && !ok {
		// A prefix purge finds L1's entries by listing them; L1 hits are
		// not checked against purges. Without Range it would remove
		// nothing from L1 and report no error.
		return nil, fmt.Errorf("%w: %T has no Range method (as cache.Memory has); a shared tier goes in Options.L2", ErrTierCannotList, o.Tier)
	}
	c := &core{
		tier:         o.Tier,
		tags:         o.TagIndex,
		lease:        o.Lease,
		versionStore: o.Versions,
		gens:         newGenerations(o.Now),
		closing:      make(chan struct{}),
		fills:        &fillBudget{max: max(o.MaxFillBytes, 0)},
		now:          o.Now,
		refs:         1,
	}
	if c.tags == nil {
		maxPairs := 0 // the default tier below feeds it its removals
		if c.tier != nil {
			maxPairs = 1_000_000
		}
		c.tags = cache.NewTagIndex(maxPairs)
	}
	if c.tier == nil {
		idx := c.tags
		m, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20, MaxObjectSize: o.MaxObjectSize, Now: o.Now,
			OnRemove: func(k string, e *cache.Entry) { idx.Remove(k, e) }})
		if err != nil {
			return nil, err
		}
		c.tier, c.ownedMemory = m, m
	}
	c.versionTimeout = cmp.Or(o.L2Timeout, 5*time.Millisecond) * 20 // a purge may wait longer than a lookup
	if c.versionStore == nil {
		c.versionStore = new(LocalVersions)
	}
	return c, nil
}

// join connects the cache to L2 and the Bus, with h (its first handler)
// answering for it.
func (c *core) join(o Options, h *Handler) {
	if o.L2 != nil {
		// With namespace versions of its own (no Options.Versions), a
		// node that restarts keys under the versions it starts with: the
		// entries that route and all purges made unreachable before would
		// be reachable again in L2. It vouches only for entries stored
		// since it started, as with an L2 that does not apply purges.
		distrustOlder := o.Versions == nil
		c.l2 = newL2(o.L2, cmp.Or(o.L2Timeout, 5*time.Millisecond), cmp.Or(o.L2Skew, time.Second), cmp.Or(o.L2Queue, 1024), o.Now(), distrustOlder, o.Logger)
	}
	if o.Bus != nil {
		c.publish, c.leaveBus = o.Bus.Join(c.fromBus, h.distrust)
	}
	if c.l2 != nil && c.l2.inv != nil {
		c.purges = newPurgeQueue(h) // (an L2 that does not apply purges needs none: they are published at once)
	}
}

// hold counts a handler being built, unless the cache is closed.
func (c *core) hold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs == 0 {
		return false
	}
	c.refs++
	return true
}

// release undoes hold for a handler that could not be built.
func (c *core) release() {
	c.mu.Lock()
	c.refs--
	last := c.refs == 0
	c.mu.Unlock()
	if last {
		c.stopShared()
		_ = c.closeShared()
	}
}

// adopt makes h, built on c, its current handler.
func (c *core) adopt(h *Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = append(c.live, h)
	c.cur.Store(h)
}

// retire removes h from the live handlers and reports whether it was the
// last.
func (c *core) retire(h *Handler) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := slices.Index(c.live, h); i >= 0 {
		c.live = slices.Delete(c.live, i, i+1)
		c.past[c.pastNext] = h
		c.pastNext = (c.pastNext + 1) % len(c.past)
	}
	if n := len(c.live); n > 0 {
		c.cur.Store(c.live[n-1])
	}
	c.refs--
	return c.refs == 0
}

// current is the handler purges from the Bus are applied through: the
// newest, whose routes and keys are the configuration's.
func (c *core) current() *Handler { return c.cur.Load() }

// fromBus applies a purge another node published: stamped, applied,
// counted (kind "remote"), and not published again.
func (c *core) fromBus(p Purge) {
	h := c.current()
	if _, err := h.purge(context.Background(), p, PurgeRemote); err != nil {
		h.log.Warn("purge from another node failed", "err", err)
	}
}

// adoptVersions raises the namespace versions of every live handler: the
// ones still answering requests of an older configuration key under the
// versions purges set too.
func (c *core) adoptVersions(m map[string]uint64) {
	c.mu.Lock()
	live := slices.Clone(c.live)
	c.mu.Unlock()
	for _, h := range live {
		h.ns.adopt(m)
	}
}

// keyers returns the handlers whose keys a URL purge made through h
// covers: h, the other live ones (requests of an older configuration in
// flight) and the last closed ones.
func (c *core) keyers(h *Handler) []*Handler {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := []*Handler{h}
	for _, o := range c.live {
		if o != h {
			out = append(out, o)
		}
	}
	for _, o := range c.past {
		if o != nil && o != h {
			out = append(out, o)
		}
	}
	return out
}

// stopShared stops what runs for the cache, first part of closing it:
// purges accepted reach L2 and the Bus (for a while), then it leaves the
// Bus.
func (c *core) stopShared() {
	close(c.closing)
	if c.purges != nil {
		c.purges.close()
	}
	c.bg.Wait()
	if c.leaveBus != nil {
		c.leaveBus()
	}
}

// closeShared sends queued L2 writes and releases a default memory tier.
func (c *core) closeShared() error {
	if c.l2 != nil {
		c.l2.close()
	}
	if c.ownedMemory != nil {
		return c.ownedMemory.Close()
	}
	return nil
}

// Stats returns the live counters of the handler's cache (shared with the
// handlers Reload made from it, so that counters never go back).
func (h *Handler) Stats() *Stats { return &h.stats }

// Tier returns the tier the handler stores into.
func (h *Handler) Tier() cache.Tier { return h.tier }
