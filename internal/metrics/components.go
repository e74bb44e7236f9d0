package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/fanout"
	"github.com/moatproxy/moat/internal/hotkeys"
	"github.com/moatproxy/moat/redisl2"
	"github.com/moatproxy/moat/upstream"
)

// Components are the parts whose own counters are exported at scrape time.
// Nil fields are skipped.
type Components struct {
	// Gateway and Fanout return those of the configuration serving (they
	// change on a reload).
	Gateway func() *gateway.Handler
	Fanout  func() *fanout.Fanout
	// Upstreams returns the upstream pools of the configuration serving.
	Upstreams func() []*upstream.Pool
	Memory    *cache.Memory
	Tags      *cache.TagIndex
	Hotkeys   *hotkeys.Tracker
	// Redis and Bus are the fleet's Redis client and purge bus
	// (cache.redis), if configured.
	Redis *redisl2.Client
	Bus   *redisl2.Bus
}

// RegisterComponents registers a collector that reads c's counters when
// Prometheus scrapes.
func RegisterComponents(reg prometheus.Registerer, c Components) {
	reg.MustRegister(&collector{c: c})
}

type collector struct{ c Components }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	dEntries     = desc("moat_cache_entries", "Entries held, by tier.", "tier")
	dBytes       = desc("moat_cache_bytes", "Bytes held (estimated), by tier.", "tier")
	dMaxBytes    = desc("moat_cache_max_bytes", "Byte budget, by tier.", "tier")
	dEvictions   = desc("moat_cache_evictions_total", "Entries dropped by the tier, by reason (size: to make room; expired: past their keep time).", "tier", "reason")
	dRejected    = desc("moat_cache_rejected_total", "Entries the tier refused, by reason.", "tier", "reason")
	dStored      = desc("moat_stored_total", "Responses stored.")
	dWaiters     = desc("moat_coalesced_waiters_total", "Requests that waited for a concurrent fill of the same key instead of going to the origin.")
	dLockAcq     = desc("moat_lock_acquisitions_total", "Fill locks taken (one leader per key), by scope.", "scope")
	dLockWait    = desc("moat_lock_waits_total", "Requests that found a key's fill lock held and waited, by scope.", "scope")
	dLockContend = desc("moat_lock_contention_total", "Fill-lock contention events (a lock found held), by scope.", "scope")
	dRefreshes   = desc("moat_refreshes_total", "Background refreshes started, by cause (swr, early, predictive).", "cause")
	dRefreshErr  = desc("moat_refresh_errors_total", "Background refreshes that failed (logged).")
	dRefreshSkip = desc("moat_refresh_skipped_total", "Background refreshes not started: concurrency, budget or origin limits.")
	dInval       = desc("moat_invalidations_total", "Invalidation operations, by kind (api, write, header, rfc9111, remote, event).", "kind")
	dInvalEnt    = desc("moat_invalidated_entries_total", "Entries invalidated, by kind of invalidation.", "kind")
	dPurgedFills = desc("moat_purged_fills_total", "Fills not kept because a purge overtook them.")
	dShed        = desc("moat_shed_total", "Requests the origin concurrency limits turned away (answered stale or 503).")
	dTagPairs    = desc("moat_tag_index_pairs", "(tag, entry) pairs in the tag index.")
	dTags        = desc("moat_tag_index_tags", "Distinct tags in the tag index.")
	dIndexFull   = desc("moat_tag_index_full_total", "Tagged responses not stored because the tag index was full.")
	dL2Requests  = desc("moat_l2_requests_total", "L2 lookups after an L1 miss, by result (hit: promoted into L1; miss: not found, failed or timed out; refused: found but not vouched for).", "result")
	dL2Errors    = desc("moat_l2_errors_total", "L2 calls that failed or timed out.")
	dL2Writes    = desc("moat_l2_writes_total", "L2 writes, by result (written; dropped: queue full or breaker open).", "result")
	dL2Open      = desc("moat_l2_breaker_open", "1 while the L2 circuit breaker is open (L2 left alone).")
	dL2PurgeErr  = desc("moat_l2_purge_errors_total", "Purges L2 did not apply (errors, deadlines, the breaker open): their entries may remain in L2 for nodes that start later.")
	dRedisState  = desc("moat_redis_breaker_state", "The Redis (L2) circuit breaker: 0 closed, 2 open (Redis left alone for a while after repeated failures).")
	dRedisConn   = desc("moat_redis_connected", "1 once a Redis server has answered (the client learned the topology).")
	dLease       = desc("moat_redis_lease_total", "Fleet-wide fill leases, by result (acquired: this node fetched for the fleet; contended: another node held it; waited: answered from its L2 fill; error: the node fetched anyway).", "result")
	dBus         = desc("moat_redis_bus_total", "Purge bus events, by event (published, delivered: from other nodes, dropped: publish queue full, gap: purges may have been missed, error: Redis calls that failed).", "event")
	dBusAge      = desc("moat_redis_bus_read_age_seconds", "Seconds since the purge bus reader last completed a round (it blocks up to 1s when idle): the bus's health and lag.")
	dDistrust    = desc("moat_bus_lost_total", "Times the purge bus said purges may have been lost: the node then stopped serving what it held.")
	dTierErr     = desc("moat_tier_errors_total", "Cache tier calls that failed (a failed lookup is a miss, a failed store stores nothing).")
	dClientErr   = desc("moat_client_errors_total", "Requests refused or failed by the client's fault: ambiguous paths (400), malformed or stalled request bodies (400, 408).")
	dFanout      = desc("moat_purge_fanout_total", "Purge deliveries to purge targets, by result (sent, retried, failed: requests; dropped: purges; unsupported: parts of purges a target cannot express, e.g. routes on a CDN).", "result")
	dFanPending  = desc("moat_purge_fanout_pending", "Purge deliveries waiting in the queues.")
	dHotTracked  = desc("moat_hotkeys_tracked", "Keys whose request rate is tracked.")
	dUpUp        = desc("moat_upstream_member_up", "1 while an upstream member takes requests (its health checks pass and it is not ejected), else 0.", "upstream", "member")
	dUpReq       = desc("moat_upstream_requests_total", "Requests sent to an upstream member.", "upstream", "member")
	dUpFail      = desc("moat_upstream_failures_total", "Requests to an upstream member that failed (errors and the passive failure statuses).", "upstream", "member")
	dUpEject     = desc("moat_upstream_ejections_total", "Times an upstream member was ejected after failed requests.", "upstream", "member")
	dUpInFlight  = desc("moat_upstream_in_flight", "Requests an upstream member is answering.", "upstream", "member")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dEntries, dBytes, dMaxBytes, dEvictions, dRejected, dStored, dWaiters,
		dLockAcq, dLockWait, dLockContend, dRefreshes, dRefreshErr, dRefreshSkip, dInval, dInvalEnt, dPurgedFills, dShed,
		dTagPairs, dTags, dIndexFull, dClientErr, dTierErr, dDistrust, dL2Requests, dL2Errors, dL2Writes, dL2Open, dL2PurgeErr, dRedisState, dRedisConn, dLease, dBus, dBusAge, dFanout, dFanPending, dHotTracked, dUpUp, dUpReq, dUpFail, dUpEject, dUpInFlight} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if m := c.c.Memory; m != nil {
		s := m.Stats()
		gauge(dEntries, float64(s.Entries), "l1")
		gauge(dBytes, float64(s.Bytes), "l1")
		gauge(dMaxBytes, float64(s.MaxBytes), "l1")
		counter(dEvictions, float64(s.Evictions), "l1", "size")
		counter(dEvictions, float64(s.Expirations), "l1", "expired")
		tooLarge := s.RejectedTooLarge
		if g := call(c.c.Gateway); g != nil {
			tooLarge += uint64(g.Stats().TooLarge.Load()) // refused before the tier saw them
		}
		counter(dRejected, float64(tooLarge), "l1", "too_large")
	}
	if c.c.Upstreams != nil {
		for _, p := range c.c.Upstreams() {
			for _, m := range p.Stats() {
				up := 0.0
				if m.State == upstream.StateUp {
					up = 1
				}
				gauge(dUpUp, up, p.Name(), m.URL)
				counter(dUpReq, float64(m.Requests), p.Name(), m.URL)
				counter(dUpFail, float64(m.Failures), p.Name(), m.URL)
				counter(dUpEject, float64(m.Ejections), p.Name(), m.URL)
				gauge(dUpInFlight, float64(m.InFlight), p.Name(), m.URL)
			}
		}
	}
	if g := call(c.c.Gateway); g != nil {
		s := g.Stats()
		counter(dStored, float64(s.Stored.Load()))
		counter(dWaiters, float64(s.Collapsed.Load()))
		counter(dLockAcq, float64(s.Leaders.Load()), "local")
		counter(dLockWait, float64(s.Collapsed.Load()), "local")
		counter(dLockContend, float64(s.Collapsed.Load()), "local")
		for i, name := range gateway.CauseNames {
			counter(dRefreshes, float64(s.Refreshes[i].Load()), name)
		}
		counter(dRefreshErr, float64(s.RefreshErrors.Load()))
		counter(dRefreshSkip, float64(s.RefreshSkipped.Load()))
		for i, name := range gateway.PurgeKindNames {
			counter(dInval, float64(s.PurgesByKind[i].Load()), name)
			counter(dInvalEnt, float64(s.PurgedByKind[i].Load()), name)
		}
		counter(dPurgedFills, float64(s.PurgedFills.Load()))
		counter(dShed, float64(s.Shed.Load()))
		counter(dIndexFull, float64(s.IndexFull.Load()))
		counter(dClientErr, float64(s.ClientErrors.Load()))
		counter(dTierErr, float64(s.TierErrors.Load()))
		counter(dDistrust, float64(s.Distrusts.Load()))
		if l, ok := g.L2Stats(); ok {
			counter(dL2Requests, float64(l.Hits), "hit")
			counter(dL2Requests, float64(l.Misses), "miss")
			counter(dL2Requests, float64(l.Refused), "refused")
			counter(dL2Errors, float64(l.Errors))
			counter(dL2Writes, float64(l.Written), "written")
			counter(dL2Writes, float64(l.Dropped), "dropped")
			open := 0.0
			if l.Open {
				open = 1
			}
			gauge(dL2Open, open)
			counter(dL2PurgeErr, float64(l.PurgeErrors))
			if c.c.Redis != nil {
				gauge(dRedisState, 2*open)
			}
		}
		if l, ok := g.LeaseStats(); ok {
			counter(dLease, float64(l.Acquired), "acquired")
			counter(dLease, float64(l.Contended), "contended")
			counter(dLease, float64(l.Waited), "waited")
			counter(dLease, float64(l.Errors), "error")
		}
	}
	if r := c.c.Redis; r != nil {
		connected := 0.0
		if r.Connected() {
			connected = 1
		}
		gauge(dRedisConn, connected)
	}
	if b := c.c.Bus; b != nil {
		counter(dBus, float64(b.Published.Load()), "published")
		counter(dBus, float64(b.Delivered.Load()), "delivered")
		counter(dBus, float64(b.Dropped.Load()), "dropped")
		counter(dBus, float64(b.Gaps.Load()), "gap")
		counter(dBus, float64(b.Errors.Load()), "error")
		if last := b.LastSeen.Load(); last > 0 {
			gauge(dBusAge, time.Since(time.Unix(0, last)).Seconds())
		}
	}
	if t := c.c.Tags; t != nil {
		tags, pairs := t.Len()
		gauge(dTags, float64(tags))
		gauge(dTagPairs, float64(pairs))
	}
	if f := call(c.c.Fanout); f != nil {
		s := f.Stats()
		counter(dFanout, float64(s.Sent), "sent")
		counter(dFanout, float64(s.Retried), "retried")
		counter(dFanout, float64(s.Failed), "failed")
		counter(dFanout, float64(s.Dropped), "dropped")
		counter(dFanout, float64(s.Unsupported), "unsupported")
		gauge(dFanPending, float64(s.Pending))
	}
	if h := c.c.Hotkeys; h != nil {
		gauge(dHotTracked, float64(h.Stats().Tracked))
	}
}

// call returns f(), or nil for a nil f.
func call[T any](f func() *T) *T {
	if f == nil {
		return nil
	}
	return f()
}
