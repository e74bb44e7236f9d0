package gateway

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// Causes of background refreshes, indexes of Stats.Refreshes.
const (
	causeSWR        = iota // stale-while-revalidate
	causeEarly             // XFetch probabilistic early refresh
	causePredictive        // refresh-ahead of hot keys
	causeRange             // the whole of a response a range request missed
	numCauses
)

// CauseNames names the refresh causes, in Stats.Refreshes order.
var CauseNames = [numCauses]string{"swr", "early", "predictive", "range"}

// trackerSample: one hit in trackerSample is reported to the RateTracker,
// as trackerSample requests.
const trackerSample = 8

// RateTracker estimates request rates per key (internal/hotkeys.Tracker).
type RateTracker interface {
	// ObserveN records n requests of key (url is how to request it again).
	ObserveN(key, url string, n int)
	Rate(key string) float64
}

// refresher runs background refreshes: at most one per key at a time, at
// most cap(sem) at once. Predictive refreshes also spend a budget of
// refreshes per second, hottest candidates first.
//
// Its goroutines belong to the Handler: Close stops the budget loop and
// waits for running refreshes (each bounded by the origin timeout).
type refresher struct {
	h        *Handler
	sem      chan struct{}
	timeout  time.Duration
	mu       sync.Mutex
	inflight map[string]struct{}
	cands    map[string]candidate
	maxCands int
	budget   float64 // predictive refreshes per second
	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

type candidate struct {
	req  *http.Request
	e    *cache.Entry
	pol  *policy.Policy
	rate float64
}

func newRefresher(h *Handler, concurrency int, budget float64, timeout time.Duration) *refresher {
	rf := &refresher{
		h: h, sem: make(chan struct{}, max(concurrency, 1)), timeout: timeout,
		inflight: map[string]struct{}{}, cands: map[string]candidate{}, maxCands: 4096,
		budget: budget, stop: make(chan struct{}),
	}
	if budget > 0 {
		rf.wg.Add(1)
		go rf.loop()
	}
	return rf
}

// trigger starts one background refresh of e (stored under key, the
// primary key) unless one is running for key or the concurrency is
// exhausted. It reports whether a refresh started.
func (rf *refresher) trigger(r *http.Request, key string, e *cache.Entry, pol *policy.Policy, cause int) bool {
	rf.mu.Lock()
	if _, busy := rf.inflight[key]; busy {
		rf.mu.Unlock()
		return false
	}
	select {
	case rf.sem <- struct{}{}:
	default:
		rf.mu.Unlock()
		rf.h.stats.RefreshSkipped.Add(1)
		return false
	}
	rf.inflight[key] = struct{}{}
	rf.mu.Unlock()
	rf.h.stats.Refreshes[cause].Add(1)

	// Detached from the client: the refresh outlives the request that
	// triggered it, bounded by its own timeout.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), rf.timeout)
	out := r.Clone(ctx)
	out.Method = http.MethodGet
	out.Body, out.ContentLength = http.NoBody, 0
	out.Header.Del("Range") // a refresh stores the whole response
	out.Header.Del("If-Range")
	// The same base (URL tag, purge checks) and the same credentials rule
	// as the request's own fill would have: a refresh must not store for
	// everyone what the origin answered one caller.
	f := &fill{h: rf.h, pol: pol, key: key, base: rf.h.key(r, pol), stale: e, fwd: "stale", background: true, cause: CauseNames[cause]}
	f.auth = rf.h.sharedAuth(r, pol)
	if m, _ := rf.h.tier.Get(ctx, key); m != nil && m.VaryMarker && m.Key == key {
		f.primary = m
	}
	rf.wg.Add(1)
	go func() {
		defer rf.wg.Done()
		defer cancel()
		defer func() {
			rf.mu.Lock()
			delete(rf.inflight, key)
			rf.mu.Unlock()
			<-rf.sem
		}()
		release, fresh := rf.h.takeLease(ctx, key, out, func(n *cache.Entry) bool {
			return !sameEntry(n, e) && n.TTL(rf.h.now()) > 0
		})
		if fresh != nil {
			return // another node refreshed it for the fleet: in L1 now
		}
		f.lease = release
		rf.h.fetch(discard{}, out, f)
	}()
	return true
}

// maybeRefresh is called on fresh hits: XFetch early refresh and
// predictive refresh-ahead.
func (rf *refresher) maybeRefresh(r *http.Request, key string, e *cache.Entry, pol *policy.Policy, now time.Time) {
	ttl := e.TTL(now)
	if ttl <= 0 {
		return
	}
	if pol.EarlyRefresh > 0 && e.FetchTime > 0 {
		// XFetch (Vattani et al., VLDB 2015): refresh when
		// now - delta*beta*ln(U) >= expiry, U uniform in (0, 1].
		if float64(e.FetchTime)*pol.EarlyRefresh*-math.Log(1-rand.Float64()) >= float64(ttl) {
			rf.trigger(r, key, e, pol, causeEarly)
			return
		}
	}
	// Predictive: an entry in the second half of its life whose key's
	// rate predicts at least one request within the next lifetime is
	// queued; the budget loop refreshes it just before it expires. Queueing
	// early means a key requested only now and then still gets its refresh
	// on time, without a hit in the last moments of its life.
	if pol.RefreshAhead && rf.budget > 0 && rf.h.tracker != nil && ttl <= e.Lifetime/2 {
		rate := rf.h.tracker.Rate(key)
		if rate*e.Lifetime.Seconds() >= 1 {
			rf.offer(r, key, e, pol, rate)
		}
	}
}

// refreshWindow is how long before expiry a predictive refresh starts: a
// twentieth of the lifetime, at least a few origin round trips and two
// budget ticks, at most half the lifetime. Short, so that a hot key costs
// little more than one origin request per lifetime.
func refreshWindow(e *cache.Entry) time.Duration {
	w := max(e.Lifetime/20, 3*e.FetchTime, 2*refreshTick)
	return min(w, e.Lifetime/2)
}

// refreshTick is the period of the predictive budget loop.
const refreshTick = 25 * time.Millisecond

// offer records a predictive refresh candidate for the budget loop.
func (rf *refresher) offer(r *http.Request, key string, e *cache.Entry, pol *policy.Policy, rate float64) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if c, ok := rf.cands[key]; ok {
		if sameEntry(c.e, e) {
			c.rate = rate // already queued: no new clone of the request
			rf.cands[key] = c
			return
		}
	} else if len(rf.cands) >= rf.maxCands {
		rf.h.stats.RefreshSkipped.Add(1)
		return
	}
	rf.cands[key] = candidate{req: r.Clone(context.WithoutCancel(r.Context())), e: e, pol: pol, rate: rate}
}

// loop spends the predictive budget every tick, hottest candidates first;
// candidates left over wait for the next tick, and those whose entry was
// replaced meanwhile are dropped.
func (rf *refresher) loop() {
	defer rf.wg.Done()
	const tick = refreshTick
	t := time.NewTicker(tick)
	defer t.Stop()
	tokens := 0.0
	for {
		select {
		case <-rf.stop:
			return
		case <-t.C:
		}
		tokens = min(tokens+rf.budget*tick.Seconds(), max(rf.budget, 1))
		rf.mu.Lock()
		if len(rf.cands) == 0 {
			rf.mu.Unlock()
			continue
		}
		type kc struct {
			key string
			c   candidate
		}
		all := make([]kc, 0, len(rf.cands))
		for k, c := range rf.cands {
			all = append(all, kc{k, c})
		}
		rf.mu.Unlock()
		slices.SortFunc(all, func(a, b kc) int {
			switch {
			case a.c.rate > b.c.rate:
				return -1
			case a.c.rate < b.c.rate:
				return 1
			}
			return 0
		})
		now := rf.h.now()
		for _, x := range all {
			if tokens < 1 {
				break
			}
			ttl := x.c.e.TTL(now)
			if ttl <= 0 && x.c.e.Staleness(now) > x.c.e.StaleWhileRevalidate {
				rf.drop(x.key, x.c.e) // lapsed: the next request refetches
				continue
			}
			if ttl > refreshWindow(x.c.e) {
				continue // not yet: it stays queued
			}
			if cur, _ := rf.h.tier.Get(context.Background(), x.c.e.Key); !sameEntry(cur, x.c.e) {
				rf.drop(x.key, x.c.e) // refreshed or removed meanwhile
				continue
			}
			if rf.trigger(x.c.req, x.key, x.c.e, x.c.pol, causePredictive) {
				tokens--
				rf.drop(x.key, x.c.e)
			}
		}
	}
}

func (rf *refresher) drop(key string, e *cache.Entry) {
	rf.mu.Lock()
	if c, ok := rf.cands[key]; ok && sameEntry(c.e, e) {
		delete(rf.cands, key)
	}
	rf.mu.Unlock()
}

// close stops the budget loop and waits for running refreshes.
func (rf *refresher) close() {
	rf.stopOnce.Do(func() { close(rf.stop) })
	rf.wg.Wait()
}

// discard is the ResponseWriter of background refreshes.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}
