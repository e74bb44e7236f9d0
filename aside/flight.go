package aside

import (
	"context"
	"sync"
	"sync/atomic"
)

// flight is one key's load in progress: every caller that needs the key
// meanwhile waits for it, and all get its answer. Unlike cache.Group, the
// waiters do receive the leader's value: a key names one value for every
// caller (tenancy is the key's business), so there is nothing to look up
// again.
type flight[V any] struct {
	done     chan struct{}
	answered atomic.Bool
	// settled: the fill is done with the key (it may still be writing L2
	// and letting the lease go). A flight answered with a stale L2 copy
	// is not settled while its reload runs.
	settled atomic.Bool
	v       V
	err     error
	stale   bool // v is a stale value (a failed reload's fallback, or a stale L2 copy)
}

func newFlight[V any]() *flight[V] { return &flight[V]{done: make(chan struct{})} }

// answer answers the waiters, once; later calls do nothing.
func (f *flight[V]) answer(v V, err error, stale bool) {
	if f.answered.Swap(true) {
		return
	}
	f.v, f.err, f.stale = v, err, stale
	close(f.done)
}

// deliver gives the fill's last word on the key: the waiters' answer
// unless they have one, and the flight is settled.
func (f *flight[V]) deliver(v V, err error, stale bool) {
	f.settled.Store(true) // first: a caller answered may call again at once, and must not join
	f.answer(v, err, stale)
}

// await returns f's answer, or ctx's error as soon as ctx ends.
func (c *Cache[V]) await(ctx context.Context, f *flight[V]) (V, error) {
	select {
	case <-f.done:
		if f.stale {
			c.n.staleServed.Add(1)
		}
		return f.v, f.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

// batchLoader loads several keys at once (GetMany's loader); a single
// Get's loader is adapted by one.
type batchLoader[V any] func(ctx context.Context, keys []string) (map[string]V, error)

func one[V any](load func(context.Context) (V, error)) batchLoader[V] {
	return func(ctx context.Context, keys []string) (map[string]V, error) {
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		return map[string]V{keys[0]: v}, nil
	}
}

// join returns the flights of keys for a caller that waits: those in
// progress, and new ones for the others, which one fill started here
// loads together. curs are the expired items L1 holds for keys (or nil).
func (c *Cache[V]) join(ctx context.Context, keys []string, curs []*item[V], load batchLoader[V]) ([]*flight[V], error) {
	fs := make([]*flight[V], len(keys))
	var fl *fill[V]
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	for i, k := range keys {
		// A settled flight may still be writing L2: its answer is not for
		// a caller that found nothing in L1 since (the value was not kept,
		// or a purge came after it).
		if f := c.flights[k]; f != nil && !f.settled.Load() {
			fs[i] = f
			c.n.coalesced.Add(1)
			continue
		}
		f := newFlight[V]()
		c.flights[k] = f
		fs[i] = f
		if fl == nil {
			fl = &fill[V]{c: c}
		}
		fl.add(k, f, curs[i])
	}
	if fl != nil {
		c.wg.Add(1)
	}
	c.mu.Unlock()
	if fl != nil {
		go fl.run(ctx, load)
	}
	return fs, nil
}

// refresh starts one background fill for those of keys that have no load
// in progress, unless MaxRefreshes are running or the Cache is closed
// (then it reports false). curs are the items L1 holds for them.
func (c *Cache[V]) refresh(ctx context.Context, keys []string, curs []*item[V], load batchLoader[V]) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	var fl *fill[V]
	for i, k := range keys {
		if f := c.flights[k]; f != nil && !f.settled.Load() {
			continue
		}
		if fl == nil {
			if c.refreshing >= c.o.MaxRefreshes {
				c.mu.Unlock()
				c.n.refreshesSkipped.Add(1)
				return false
			}
			fl = &fill[V]{c: c, bg: true}
		}
		f := newFlight[V]()
		c.flights[k] = f
		fl.add(k, f, curs[i])
	}
	if fl == nil {
		c.mu.Unlock()
		return true
	}
	c.refreshing++
	c.wg.Add(1)
	c.mu.Unlock()
	c.n.refreshes.Add(1)
	go fl.run(ctx, load)
	return true
}

// unregister ends fl's flights: later callers look at L1 again.
func (c *Cache[V]) unregister(fl *fill[V]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range fl.keys {
		if c.flights[k] == fl.flights[i] {
			delete(c.flights, k)
		}
	}
	if fl.bg {
		c.refreshing--
	}
}

// maxParallel bounds the goroutines of one fill's L2 and lease calls.
const maxParallel = 16

// each calls fn(i) for every i in [0, n), on up to maxParallel goroutines
// (inline when n is 1), and returns when all calls have. A panic of fn (a
// tier's or a lease's) is raised again on the caller's goroutine, whose
// fill turns it into a *PanicError.
func each(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	var (
		wg    sync.WaitGroup
		once  sync.Once
		raise any
	)
	sem := make(chan struct{}, maxParallel)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					once.Do(func() { raise = r })
				}
				<-sem
			}()
			fn(i)
		})
	}
	wg.Wait()
	if raise != nil {
		panic(raise)
	}
}
