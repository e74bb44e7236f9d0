package gateway

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cachekey"
)

// Lease makes a fill fleet-wide: coalescing (cache.Group) lets one request
// per node go to the origin for a key; the lease lets one node of the
// fleet go. The node-local leader asks for the key's lease; the node that
// gets it fetches and writes L2, then lets the lease go; the others' leaders
// look for the entry in L2 until it is there, the lease is gone (the
// holder did not store: it goes to the origin itself) or the wait is over
// (Options.CoalesceTimeout), and then fetch. Background refreshes
// (stale-while-revalidate, early, predictive) take the same lease, so a
// stale key is refreshed once per fleet.
//
// A lease is an efficiency lock, never a correctness one: an error means
// "proceed" (the node fetches as if it held it), and what a fill writes is
// fenced by the purge checks, not by the lease. LocalLease is the
// in-process implementation; the Redis one is SET NX PX with a random
// token, extended while held and released by compare-and-delete.
type Lease interface {
	// Acquire tries to take key's lease for at least ttl. held is false
	// when another node holds it. release lets the lease go (idempotent;
	// nil when not held).
	Acquire(ctx context.Context, key string, ttl time.Duration) (release func(), held bool, err error)
	// Held reports whether some node holds key's lease.
	Held(ctx context.Context, key string) (bool, error)
}

// LocalLease is a Lease for the handlers of one process. The zero value is
// ready to use.
type LocalLease struct {
	mu sync.Mutex
	m  map[string]*leaseHold
}

type leaseHold struct{ until time.Time }

var _ Lease = (*LocalLease)(nil)

// Acquire implements Lease.
func (l *LocalLease) Acquire(_ context.Context, key string, ttl time.Duration) (func(), bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*leaseHold{}
	}
	now := time.Now()
	if h := l.m[key]; h != nil && now.Before(h.until) {
		return nil, false, nil
	}
	h := &leaseHold{until: now.Add(ttl)}
	l.m[key] = h
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.m[key] == h {
				delete(l.m, key)
			}
			l.mu.Unlock()
		})
	}, true, nil
}

// Held implements Lease.
func (l *LocalLease) Held(_ context.Context, key string) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.m[key]
	return h != nil && time.Now().Before(h.until), nil
}

// LeaseStats counts the fleet-wide fills (see Lease).
type LeaseStats struct {
	Acquired  int64 // leases taken: this node fetched for the fleet
	Contended int64 // leases another node held
	Waited    int64 // answered from another node's L2 fill (while it held the lease, or just after)
	Errors    int64 // lease calls that failed (the node fetched anyway)
}

// leaseWait backs off between looks at L2 while another node fills.
// leaseTTL is the lease's lifetime; its holder extends it while the fill
// runs, so a holder that dies (or a lease left by an Acquire whose answer
// never came) holds the others back for at most that long.
const (
	leaseFirstPoll = 2 * time.Millisecond
	leaseMaxPoll   = 50 * time.Millisecond
	leaseTTL       = 2 * time.Second
)

// takeLease asks for key's fleet lease before this node's leader fetches
// for r. It returns the release to hand to the fill (nil when there is no
// lease to let go), or, when another node filled the key meanwhile, the
// entry it stored, which accept approved and which is now in L1.
func (h *Handler) takeLease(ctx context.Context, key string, r *http.Request, accept func(*cache.Entry) bool) (release func(), e *cache.Entry) {
	if h.lease == nil || h.l2 == nil || !h.l2.allow() {
		return nil, nil
	}
	lctx, cancel := context.WithTimeout(ctx, h.l2.timeout)
	release, held, err := h.lease.Acquire(lctx, key, leaseTTL)
	cancel()
	switch {
	case err != nil:
		h.leaseStats.errors.Add(1)
		h.l2.result(err)
		return nil, nil
	case held:
		h.leaseStats.acquired.Add(1)
		// Another node may have filled it between this node's look at L2
		// and the lease (its write lands, then its lease goes), and a node
		// holding a stale copy has not looked at L2 at all: one more look
		// before the origin.
		if e := h.fleetEntry(ctx, key, r, accept); e != nil {
			release()
			h.leaseStats.waited.Add(1)
			return nil, e
		}
		return release, nil
	}
	h.leaseStats.contended.Add(1)
	noteWaiting(ctx)
	if e := h.awaitFleet(ctx, key, r, accept); e != nil {
		h.leaseStats.waited.Add(1)
		return nil, e
	}
	return nil, nil
}

// awaitFleet looks for key in L2 while another node holds its lease, with
// backoff, until an entry accept approves is there (promoted into L1 and
// returned), the lease is gone, L2 fails, or the coalescing wait is over.
// It reads L2 itself, not L1, which may hold the stale entry being
// replaced.
func (h *Handler) awaitFleet(ctx context.Context, key string, r *http.Request, accept func(*cache.Entry) bool) *cache.Entry {
	deadline := time.Now().Add(h.coalesceWait)
	wait := leaseFirstPoll
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-h.l2.stop: // closing
			return nil
		case <-t.C:
		}
		if e := h.fleetEntry(ctx, key, r, accept); e != nil {
			return e
		}
		lctx, cancel := context.WithTimeout(ctx, h.l2.timeout)
		held, err := h.lease.Held(lctx, key)
		cancel()
		if err != nil || !held || !h.l2.allow() || time.Now().After(deadline) {
			// One last look: the holder may have written and let go
			// between the two calls.
			if err == nil && !held {
				return h.fleetEntry(ctx, key, r, accept)
			}
			return nil
		}
		wait = min(2*wait, leaseMaxPoll)
		t.Reset(wait)
	}
}

// fleetEntry reads key from L2, following a Vary marker to r's variant,
// and promotes what accept approves (and this node vouches for) into L1.
func (h *Handler) fleetEntry(ctx context.Context, key string, r *http.Request, accept func(*cache.Entry) bool) *cache.Entry {
	e := h.l2.get(ctx, key)
	if e == nil {
		return nil
	}
	var marker *cache.Entry
	if e.VaryMarker {
		marker = e
		if e = h.l2.get(ctx, cachekey.Variant(variantBase(marker), marker.Vary, r.Header)); e == nil {
			return nil
		}
	}
	if e.VaryMarker || e.HitForMiss || !accept(e) {
		return nil
	}
	if marker != nil && h.promote(ctx, key, marker) == nil {
		return nil
	}
	return h.promote(ctx, e.Key, e)
}

// handOffLease gives the fill's lease to the L2 write of what it stored:
// the lease is let go once the entry is in L2, so that the other nodes'
// leaders find it there.
func (f *fill) handOffLease() func() {
	f.leaseMu.Lock()
	defer f.leaseMu.Unlock()
	r := f.lease
	f.lease = nil
	return r
}

// dropLease lets the fill's lease go if it was not handed off.
func (f *fill) dropLease() {
	if r := f.handOffLease(); r != nil {
		r()
	}
}

type leaseCounters struct{ acquired, contended, waited, errors atomic.Int64 }

// LeaseStats returns the lease counters, and false without a lease.
func (h *Handler) LeaseStats() (LeaseStats, bool) {
	if h.lease == nil {
		return LeaseStats{}, false
	}
	c := &h.leaseStats
	return LeaseStats{Acquired: c.acquired.Load(), Contended: c.contended.Load(), Waited: c.waited.Load(), Errors: c.errors.Load()}, true
}
