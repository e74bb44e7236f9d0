package aside

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"
)

// A fill answers the flights of one or more keys (one for a Get, the
// misses of a GetMany): from L2 if another node stored them, else from
// the loader, called once for every key still missing, on this node or,
// with a Lease, on the node that holds the key's lease.
//
// It runs on its own goroutine, under a context detached from the callers'
// (they may leave; the others still get the answer) and cancelled by
// Close. Every flight it was given is answered before it ends, whatever
// happens (a panic of a hook or of the loader included).
type fill[V any] struct {
	c        *Cache[V]
	bg       bool // a background refresh: no caller is waiting for it
	keys     []string
	flights  []*flight[V]
	cur      []*item[V] // what L1 held for the key when the fill started, or nil
	fallback []*item[V] // served if the load fails, within its StaleIfError
	leases   []func()   // releases of the leases held
	seq      uint64     // the fences at the fill's start, for L2 copies
}

func (fl *fill[V]) add(key string, f *flight[V], cur *item[V]) {
	fl.keys = append(fl.keys, key)
	fl.flights = append(fl.flights, f)
	fl.cur = append(fl.cur, cur)
	fl.fallback = append(fl.fallback, cur)
}

// Fleet coalescing (as the gateway's): the lease lives leaseTTL unless its
// holder extends it (redisl2 does while the load runs), and the others
// poll L2 with a backoff from leaseFirstPoll to leaseMaxPoll.
const (
	leaseTTL       = 2 * time.Second
	leaseFirstPoll = 2 * time.Millisecond
	leaseMaxPoll   = 50 * time.Millisecond
)

// errNoAnswer is never seen unless a fill has a bug: it answers the
// flights the fill left without one, so that no caller waits forever.
var errNoAnswer = errors.New("aside: internal error: load ended without an answer")

func (fl *fill[V]) run(parent context.Context, load batchLoader[V]) {
	c := fl.c
	var awaiting sync.WaitGroup
	defer func() {
		r := recover() // of a hook (Tags, TTLFunc, Size, Codec): the loader's own are caught in callLoader
		awaiting.Wait()
		fl.releaseLeases()
		if r != nil {
			fl.failAll(&PanicError{Value: r, Stack: debug.Stack()})
		}
		fl.failAll(errNoAnswer)
		c.unregister(fl)
		c.wg.Done()
	}()
	fl.seq = c.fences.now()
	ctx, cancel := c.detach(parent, c.o.LoadTimeout)
	defer cancel()
	todo := make([]int, len(fl.keys))
	for i := range todo {
		todo[i] = i
	}
	var late chan []int
	if c.l2 != nil {
		todo = fl.lookL2(ctx, todo, true)
		if c.lease != nil && len(todo) > 0 {
			var waits []int
			todo, waits = fl.takeLeases(ctx, todo)
			if len(waits) > 0 {
				late = make(chan []int, 1)
				awaiting.Add(1)
				go func() {
					defer awaiting.Done()
					defer func() {
						if r := recover(); r != nil { // a lease's or a tier's: load them here
							c.log.Error("aside: waiting for the fleet panicked", "name", c.o.Name, "panic", r)
							late <- waits
						}
					}()
					late <- fl.awaitFleet(ctx, waits)
				}()
			}
		}
	}
	fl.load(parent, todo, load)
	fl.releaseLeases() // after the L2 writes: the waiting nodes find the values there
	if late != nil {
		fl.load(parent, <-late, load) // the keys the fleet did not fill in time
	}
}

// lookL2 reads the keys idx from L2 and answers those with a fresh copy.
// On the first look a stale copy is kept as well: served now within its
// StaleWhileRevalidate (and reloaded), or if the load fails within its
// StaleIfError. It returns the keys still to load.
func (fl *fill[V]) lookL2(ctx context.Context, idx []int, first bool) []int {
	c := fl.c
	got := make([]*item[V], len(idx))
	each(len(idx), func(j int) {
		got[j] = c.l2Get(ctx, fl.keys[idx[j]], fl.cur[idx[j]], first)
	})
	rest := make([]int, 0, len(idx))
	now := c.nanos()
	for j, i := range idx {
		it := got[j]
		if it == nil {
			rest = append(rest, i)
			continue
		}
		switch st := it.state(now); {
		case st == stateFresh:
			c.store(fl.keys[i], it, fl.seq)
			fl.flights[i].deliver(it.v, nil, false)
			continue
		case !first || st == stateDead:
		case st == stateStale:
			c.store(fl.keys[i], it, fl.seq)
			if !fl.bg {
				fl.flights[i].answer(it.v, nil, true) // not settled: the reload goes on
			}
			fl.fallback[i] = it
		default:
			if fb := fl.fallback[i]; fb == nil || fb.sie < it.sie {
				fl.fallback[i] = it
			}
		}
		rest = append(rest, i)
	}
	return rest
}

// takeLeases asks for the leases of the keys idx. It returns the keys this
// node loads (lease taken, or the lease call failed: a lease is an
// efficiency lock, never a correctness one) and those another node holds.
func (fl *fill[V]) takeLeases(ctx context.Context, idx []int) (mine, waits []int) {
	c := fl.c
	type answer struct {
		release func()
		held    bool
		err     error
	}
	got := make([]answer, len(idx))
	each(len(idx), func(j int) {
		lctx, cancel := context.WithTimeout(ctx, c.o.L2Timeout)
		defer cancel()
		r, held, err := c.lease.Acquire(lctx, c.l2Key(fl.keys[idx[j]]), leaseTTL)
		got[j] = answer{r, held, err}
	})
	var held []int
	for j, i := range idx {
		switch a := got[j]; {
		case a.err != nil:
			c.n.l2Errors.Add(1)
			mine = append(mine, i)
		case a.held:
			fl.leases = append(fl.leases, a.release)
			held = append(held, i)
		default:
			c.n.fleetWaits.Add(1)
			waits = append(waits, i)
		}
	}
	if len(held) > 0 {
		// Another node may have stored the value between the first look
		// and the lease (its write lands, then its lease goes): one more
		// look before loading.
		mine = append(mine, fl.lookL2(ctx, held, false)...)
	}
	return mine, waits
}

// awaitFleet polls L2 for the keys idx, whose leases other nodes hold,
// with backoff, until each is there (answered), its lease is gone, a lease
// call fails or ctx ends (LoadTimeout). It returns the keys that are still
// missing, for this node to load.
func (fl *fill[V]) awaitFleet(ctx context.Context, idx []int) (late []int) {
	c := fl.c
	wait := leaseFirstPoll
	t := time.NewTimer(wait)
	defer t.Stop()
	for len(idx) > 0 {
		select {
		case <-ctx.Done():
			return append(late, idx...)
		case <-t.C:
		}
		if idx = fl.lookL2(ctx, idx, false); len(idx) == 0 {
			break
		}
		held := make([]bool, len(idx))
		errs := make([]error, len(idx))
		each(len(idx), func(j int) {
			lctx, cancel := context.WithTimeout(ctx, c.o.L2Timeout)
			defer cancel()
			held[j], errs[j] = c.lease.Held(lctx, c.l2Key(fl.keys[idx[j]]))
		})
		var gone, still []int
		for j, i := range idx {
			switch {
			case errs[j] != nil:
				c.n.l2Errors.Add(1)
				late = append(late, i)
			case !held[j]:
				gone = append(gone, i)
			default:
				still = append(still, i)
			}
		}
		if len(gone) > 0 {
			// The holder may have written and let go between the two
			// calls: one last look.
			late = append(late, fl.lookL2(ctx, gone, false)...)
		}
		idx = still
		wait = min(2*wait, leaseMaxPoll)
		t.Reset(wait)
	}
	return late
}

// load calls the loader once for the keys idx and answers them: the
// values (stored in L1 and written to L2 first), ErrNotFound for the keys
// the loader's map leaves out, or its error (or a stale value within
// StaleIfError).
//
// The L2 write comes before the answer (it costs a miss one L2 call, at
// most L2Timeout) so that what a caller does after Get returns comes after
// it: a Set or Delete on another node is never overwritten by the write of
// a load whose answer the caller already had.
func (fl *fill[V]) load(parent context.Context, idx []int, load batchLoader[V]) {
	if len(idx) == 0 {
		return
	}
	c := fl.c
	keys := make([]string, len(idx))
	for j, i := range idx {
		keys[j] = fl.keys[i]
	}
	ctx, cancel := c.detach(parent, c.o.LoadTimeout)
	defer cancel()
	since := c.fences.now()
	start, t0 := c.now(), c.precise()
	m, err := c.callLoader(ctx, keys, load)
	delta := c.precise().Sub(t0)
	c.n.loads.Add(1)
	if err != nil {
		c.n.loadErrors.Add(1)
		if fl.bg {
			c.log.Warn("aside: background reload failed", "name", c.o.Name, "keys", len(keys), "err", err)
		}
		for _, i := range idx {
			fl.fail(i, err, since)
		}
		return
	}
	end := c.now()
	type write struct {
		key  string
		it   *item[V]
		body []byte
	}
	var (
		writes  []write
		answers []func()
	)
	defer func() { // after the L2 writes; and if a hook panics, for the keys before it
		for _, answer := range answers {
			answer()
		}
	}()
	for _, i := range idx {
		key := fl.keys[i]
		v, ok := m[key]
		if !ok {
			if cur := fl.cur[i]; cur != nil {
				c.drop(key, cur) // gone from the source: not served stale either
			}
			var zero V
			fl.flights[i].deliver(zero, ErrNotFound, false)
			continue
		}
		it, body, err := c.newItem(key, v, end, delta)
		if err != nil {
			// The value is good; only keeping it failed.
			c.n.codecErrors.Add(1)
			c.log.Error("aside: value not cached: encoding failed", "name", c.o.Name, "err", err)
			fl.flights[i].deliver(v, nil, false)
			continue
		}
		c.store(key, it, since)
		if c.l2 != nil && !c.fences.crossed(since, key, it.tags) {
			writes = append(writes, write{key, it, body})
		}
		answers = append(answers, func() { fl.flights[i].deliver(v, nil, false) })
	}
	wctx := context.WithoutCancel(parent)
	each(len(writes), func(j int) {
		w := writes[j]
		_ = c.l2Set(wctx, w.key, w.it, w.body, start, c.o.L2Timeout)
	})
}

// fail answers key i after its load failed with err.
func (fl *fill[V]) fail(i int, err error, since uint64) {
	c := fl.c
	now := c.now()
	if fb := fl.fallback[i]; fb != nil && fb.err == nil && now.UnixNano() < fb.sie {
		fl.flights[i].deliver(fb.v, nil, true)
		return
	}
	if c.o.CacheErrors > 0 && !errors.Is(err, ErrClosed) {
		key := fl.keys[i]
		fresh := now.Add(c.o.CacheErrors).UnixNano()
		it := &item[V]{err: err, fresh: fresh, swr: fresh, sie: fresh, ttl: c.o.CacheErrors}
		it.weight = c.weigh(key, len(err.Error()), nil)
		c.store(key, it, since)
	}
	var zero V
	fl.flights[i].deliver(zero, err, false)
}

// failAll answers every flight not answered yet with err.
func (fl *fill[V]) failAll(err error) {
	var zero V
	for _, f := range fl.flights {
		f.deliver(zero, err, false)
	}
}

func (fl *fill[V]) releaseLeases() {
	for _, r := range fl.leases {
		r()
	}
	fl.leases = nil
}

// callLoader calls load on a goroutine of its own and returns its answer,
// or an error when ctx ends first (a loader that ignores its context does
// not hold its callers past LoadTimeout). A panic of the loader is returned
// as a *PanicError, a runtime.Goexit as ErrLoaderExited.
func (c *Cache[V]) callLoader(ctx context.Context, keys []string, load batchLoader[V]) (map[string]V, error) {
	if ctx.Err() != nil {
		if c.closing.Err() != nil {
			return nil, ErrClosed
		}
		return nil, ctx.Err()
	}
	type answer struct {
		m   map[string]V
		err error
	}
	ch := make(chan answer, 1)
	c.wg.Add(1) // the caller, a fill, holds one: never from zero during Close's Wait
	go func() {
		defer c.wg.Done()
		a := answer{err: ErrLoaderExited} // unless the loader returns or panics
		defer func() { ch <- a }()
		a.m, a.err = protect(ctx, keys, load)
	}()
	select {
	case a := <-ch:
		return a.m, a.err
	case <-ctx.Done():
		select {
		case a := <-ch:
			return a.m, a.err
		default:
		}
		if c.closing.Err() != nil {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("aside: %s: the loader did not return within LoadTimeout: %w", c.o.Name, ctx.Err())
	}
}

func protect[V any](ctx context.Context, keys []string, load batchLoader[V]) (m map[string]V, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return load(ctx, keys)
}

// detach returns a context for work that callers wait for but must not
// cancel by leaving: parent's values without its cancellation
// (context.WithoutCancel), ending after d or at Close.
func (c *Cache[V]) detach(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), d)
	stop := context.AfterFunc(c.closing, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}
