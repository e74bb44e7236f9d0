package aside

import "sync/atomic"

// Stats is a snapshot of a Cache's counters (Cache.Stats).
type Stats struct {
	Hits             uint64 // fresh values (and remembered errors) served from L1
	Misses           uint64 // reads that found nothing they could serve in L1 at once
	StaleServed      uint64 // stale values served: while reloading, or instead of a failed load
	Loads            uint64 // loader calls (a GetMany batch is one)
	LoadErrors       uint64 // loader calls that failed: errors, panics, LoadTimeout
	Coalesced        uint64 // reads that waited for a load another read had started
	Refreshes        uint64 // background reloads started (stale-while-revalidate, early, predictive)
	RefreshesSkipped uint64 // background reloads not started: MaxRefreshes were running
	FleetWaits       uint64 // loads left to another node that held the lease
	L2Hits           uint64 // usable copies read from L2
	L2Misses         uint64 // L2 reads that found no usable copy
	L2Errors         uint64 // L2 and lease calls that failed or timed out
	CodecErrors      uint64 // values that could not be encoded, or L2 copies decoded
	Invalidations    uint64 // Delete and Invalidate calls, and purges applied from the bus
	Entries          int    // values in L1
	Bytes            uint64 // their weight (see Options.MaxBytes)
	TagPairs         int    // (tag, key) pairs in the tag index
}

type counters struct {
	staleServed, loads, loadErrors, coalesced, refreshes, refreshesSkipped, fleetWaits,
	l2Hits, l2Misses, l2Errors, codecErrors, invalidations atomic.Uint64
}

// Stats returns the Cache's counters.
func (c *Cache[V]) Stats() Stats {
	l := c.lookups.Snapshot()
	_, pairs := c.index.Len()
	return Stats{
		Hits:             l.Hits,
		Misses:           l.Misses,
		StaleServed:      c.n.staleServed.Load(),
		Loads:            c.n.loads.Load(),
		LoadErrors:       c.n.loadErrors.Load(),
		Coalesced:        c.n.coalesced.Load(),
		Refreshes:        c.n.refreshes.Load(),
		RefreshesSkipped: c.n.refreshesSkipped.Load(),
		FleetWaits:       c.n.fleetWaits.Load(),
		L2Hits:           c.n.l2Hits.Load(),
		L2Misses:         c.n.l2Misses.Load(),
		L2Errors:         c.n.l2Errors.Load(),
		CodecErrors:      c.n.codecErrors.Load(),
		Invalidations:    c.n.invalidations.Load(),
		Entries:          c.l1.EstimatedSize(),
		Bytes:            c.l1.WeightedSize(),
		TagPairs:         pairs,
	}
}
