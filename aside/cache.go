package aside

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/maypok86/otter/v2/stats"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/tagindex"
)

// Cache is a typed cache-aside cache of values V by string key (see the
// package documentation). It is safe for concurrent use. Close it to stop
// its background loads and leave the bus.
type Cache[V any] struct {
	o         Options[V] // validated, defaults filled in
	l1        *otter.Cache[string, *item[V]]
	maxWeight uint32
	index     *tagindex.Index[tagged]
	fences    fences
	l2        cache.Tier
	inv       cache.Invalidator // l2, if it is one
	lease     gateway.Lease
	prefix    string // of L2 keys: "aside:" + Name + "@" + Version + ":"
	keyTags   string // prefix of the tags that name one key of this Name (see keyTag)
	publish   func(gateway.Purge)
	leave     func()
	clock     *otter.CoarseClock // without Options.Now
	now       func() time.Time   // Options.Now, or the coarse clock
	nanos     func() int64       // now as UnixNano, on the hit path
	precise   func() time.Time   // Options.Now, or time.Now: how long loads take
	rand      func() float64     // XFetch's draw; tests replace it
	early     bool               // EarlyRefresh or RefreshAhead
	log       *slog.Logger

	mu         sync.Mutex
	flights    map[string]*flight[V] // loads in progress, by key
	refreshing int                   // background fills running
	closed     bool
	closing    context.Context // done at Close: loads in progress are cancelled
	stop       context.CancelFunc
	wg         sync.WaitGroup // fills and loader goroutines

	// lookups counts hits and misses: the hit path's only shared write,
	// striped per P (otter's counter), so that cores do not contend.
	lookups *stats.Counter
	n       counters
}

// New returns a Cache, or an error wrapping ErrOptions that names the
// invalid field. With a Bus, the Cache joins it at once.
func New[V any](o Options[V]) (*Cache[V], error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	c := &Cache[V]{
		o:         o,
		maxWeight: uint32(min(o.MaxBytes/8, math.MaxUint32)),
		index:     tagindex.New[tagged](0),
		l2:        o.L2,
		prefix:    "aside:" + o.Name + "@" + o.Version + ":",
		keyTags:   keyTagStart + o.Name + ":",
		rand:      rand.Float64,
		early:     o.EarlyRefresh > 0 || o.RefreshAhead,
		log:       o.Logger,
		flights:   map[string]*flight[V]{},
		lookups:   stats.NewCounter(),
	}
	if o.Now != nil {
		c.now, c.precise = o.Now, o.Now
		c.nanos = func() int64 { return o.Now().UnixNano() }
	} else {
		c.clock = otter.NewCoarseClock(time.Millisecond)
		c.nanos = c.clock.NowNano
		c.now = func() time.Time { return time.Unix(0, c.clock.NowNano()) }
		c.precise = time.Now
	}
	c.inv, _ = o.L2.(cache.Invalidator)
	c.fences.init()
	c.closing, c.stop = context.WithCancel(context.Background())
	c.lease = o.Lease
	lo := &otter.Options[string, *item[V]]{
		MaximumWeight: uint64(o.MaxBytes),
		Weigher:       func(_ string, it *item[V]) uint32 { return it.weight },
		// Freshness is decided on each read with Options.Now; expiry here
		// only gives the memory back once nothing may be served.
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, *item[V]]) time.Duration {
			return max(time.Duration(e.Value.keepUntil()-c.nanos()), time.Millisecond)
		}),
		// Atomic: runs during the removal, on the removing goroutine, so
		// the index never names a key L1 no longer holds for long. It runs
		// under a bucket lock and only touches the index.
		OnAtomicDeletion: func(e otter.DeletionEvent[string, *item[V]]) {
			c.index.Remove(e.Key, e.Value.tags, &e.Value.tagged)
		},
		Logger: slogLogger{o.Logger},
	}
	if c.clock != nil {
		lo.Clock = c.clock
	}
	l1, err := otter.New(lo)
	if err != nil {
		c.stopClock()
		return nil, fmt.Errorf("aside: %w", err)
	}
	c.l1 = l1
	if o.Bus != nil {
		c.publish, c.leave = o.Bus.Join(c.fromBus, c.lost)
	}
	return c, nil
}

// Get returns the value of key: from memory while it is fresh (or stale
// within StaleWhileRevalidate, reloading it in the background), else from
// L2, else from load. Concurrent Gets of a key share one load (and one per
// fleet with a Lease); each waits under its own ctx and returns ctx.Err()
// as soon as it ends, while the load goes on for the others.
//
// An error of load reaches every caller that waited for it and is not
// cached, unless Options.CacheErrors says so; a stale value within
// StaleIfError is returned instead. A panic of load, or of a hook it leads
// to (Tags, TTLFunc, Size, the Codec), is such an error: a *PanicError.
// After Close, a Get that needs a load returns ErrClosed.
//
// WARNING: key is the value's whole identity; see the package
// documentation about tenancy.
func (c *Cache[V]) Get(ctx context.Context, key string, load func(ctx context.Context) (V, error)) (V, error) {
	var cur *item[V]
	if it, ok := c.l1.GetIfPresent(key); ok {
		now := c.nanos()
		if now < it.fresh {
			c.lookups.RecordHits(1)
			if c.early && it.err == nil && c.refreshDue(it, now) &&
				!c.refresh(ctx, []string{key}, []*item[V]{it}, one(load)) {
				it.refreshing.Store(false) // not started: the next hit tries again
			}
			return it.v, it.err
		}
		if it.state(now) == stateStale {
			c.n.staleServed.Add(1)
			c.refresh(ctx, []string{key}, []*item[V]{it}, one(load))
			return it.v, nil
		}
		cur = it // expired: the fallback if the load fails (within StaleIfError)
	}
	c.lookups.RecordMisses(1)
	if err := ctx.Err(); err != nil {
		var zero V
		return zero, err
	}
	fs, err := c.join(ctx, []string{key}, []*item[V]{cur}, one(load))
	if err != nil {
		var zero V
		return zero, err
	}
	return c.await(ctx, fs[0])
}

// refreshDue reports whether a fresh item should be reloaded before it
// expires: in the last tenth of its lifetime (RefreshAhead), or by XFetch's
// draw (EarlyRefresh). Only the first hit that says so starts a reload.
func (c *Cache[V]) refreshDue(it *item[V], now int64) bool {
	left := float64(it.fresh - now)
	due := c.o.RefreshAhead && left < float64(it.ttl)/10 ||
		c.o.EarlyRefresh > 0 && float64(it.delta)*c.o.EarlyRefresh*-math.Log(1-c.rand()) >= left
	return due && !it.refreshing.Swap(true)
}

// Set stores v under key, as if it had just been loaded: in L1 and L2, and
// every other node drops its copy (through the bus) so that it reads the new
// one from L2. A load of key in progress when Set is called does not
// overwrite v in this process.
//
// Set is last-writer-wins with loads running on other nodes; after a
// write to the source of truth, Delete is the safe way to make every node
// reload. The error wraps ErrL2 when the shared tier failed, or is the
// Codec's.
func (c *Cache[V]) Set(ctx context.Context, key string, v V) error {
	since := c.fences.stamp([]string{key}, nil) // loads in progress are overtaken
	now := c.now()
	it, body, err := c.newItem(key, v, now, 0)
	if err != nil {
		return err
	}
	c.store(key, it, since)
	if c.l2 != nil {
		if err = c.l2Set(ctx, key, it, body, now, purgeTimeoutFactor*c.o.L2Timeout); err != nil {
			err = fmt.Errorf("%w: set %q: %w", ErrL2, key, err)
		}
	}
	if c.publish != nil {
		c.publish(gateway.Purge{Tags: []string{c.keyTag(key)}, Origin: "moat"})
	}
	return err
}

// Close stops the Cache: loads in progress are cancelled (their callers
// get their errors), the Cache leaves the bus, and Close returns once every
// goroutine it started has ended (a loader must honour its context). It is
// idempotent. Reads of L1 still answer after Close; loads do not.
func (c *Cache[V]) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stop()
	if c.leave != nil {
		c.leave()
	}
	c.wg.Wait()
	c.l1.StopAllGoroutines()
	c.stopClock()
	return nil
}

func (c *Cache[V]) stopClock() {
	if c.clock != nil {
		c.clock.Stop()
	}
}

// slogLogger adapts a *slog.Logger to otter's Logger.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Warn(ctx context.Context, msg string, err error) {
	s.l.WarnContext(ctx, "aside: "+msg, "err", err)
}

func (s slogLogger) Error(ctx context.Context, msg string, err error) {
	s.l.ErrorContext(ctx, "aside: "+msg, "err", err)
}
