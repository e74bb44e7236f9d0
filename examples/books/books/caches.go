package books

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/moatproxy/moat/aside"
	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/redisl2"
)

// CacheOptions configure the app's caches. The zero value is one process,
// memory only (L1).
type CacheOptions struct {
	// L2, Lease and Bus share the caches with other instances: see Redis.
	// L2 must be a cache.Invalidator (values have tags). All nil: L1 only.
	L2    cache.Tier
	Lease gateway.Lease
	Bus   gateway.Bus
	// L2Timeout bounds each L2 call of a read (aside's default, 10ms, if
	// 0); purges may take 20 times as long.
	L2Timeout time.Duration
	// MaxBytes bounds each cache's memory (aside's default, 64 MiB, if 0).
	MaxBytes int64
	// Logger receives what the caches cannot return (failed background
	// reloads). Default slog.Default().
	Logger *slog.Logger
}

// Redis returns CacheOptions that share rc's Redis with every instance
// using the same KeyPrefix: values (L2), loads (a fleet-wide lease: one
// instance loads a key, the others wait and read L2) and invalidations (the
// bus).
func Redis(rc *redisl2.Client, bus redisl2.BusOptions) CacheOptions {
	return CacheOptions{L2: rc.Tier(), Lease: rc.Lease(), Bus: rc.Bus(bus)}
}

// Caches are the app's cache-aside caches, one per value type. Keys are
// the resource's own identity: the values are public (the same for every
// caller), so no tenant or user goes in them.
type Caches struct {
	book   *aside.Cache[BookDetail]   // key: book id
	page   *aside.Cache[Page]         // key: "{page}/{size}"
	count  *aside.Cache[int64]        // key: "all"
	author *aside.Cache[AuthorBooks]  // key: author id
	search *aside.Cache[SearchResult] // key: the normalized query
	bus    *gateway.LocalBus
	close  sync.Once
}

// NewCaches returns the app's caches. Close them when done.
func NewCaches(o CacheOptions) (*Caches, error) {
	c := &Caches{bus: gateway.NewLocalBus(o.Bus)}
	var err error
	c.book, err = newCache(o, c.bus, aside.Options[BookDetail]{
		Name: "book", Version: "1",
		TTL: 10 * time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: 10 * time.Minute,
		Tags: func(_ string, b BookDetail) []string { return []string{BookTag(b.ID)} },
	}, err)
	c.page, err = newCache(o, c.bus, aside.Options[Page]{
		Name: "page", Version: "1",
		TTL: 5 * time.Minute, StaleWhileRevalidate: 30 * time.Second, StaleIfError: 10 * time.Minute,
		Tags: func(_ string, p Page) []string { return pageTags(p) },
	}, err)
	c.count, err = newCache(o, c.bus, aside.Options[int64]{
		Name: "count", Version: "1",
		TTL: 5 * time.Minute, StaleWhileRevalidate: 30 * time.Second, StaleIfError: 10 * time.Minute,
		Tags: func(string, int64) []string { return []string{TagCount} },
	}, err)
	c.author, err = newCache(o, c.bus, aside.Options[AuthorBooks]{
		Name: "author-books", Version: "1",
		TTL: 10 * time.Minute, StaleWhileRevalidate: time.Minute, StaleIfError: 10 * time.Minute,
		Tags: func(_ string, a AuthorBooks) []string { return []string{AuthorBooksTag(a.Author.ID)} },
	}, err)
	// Searches are many and each is read rarely: a short TTL, no stale
	// serving, and every write invalidates them all.
	c.search, err = newCache(o, c.bus, aside.Options[SearchResult]{
		Name: "search", Version: "1", TTL: 30 * time.Second,
		Tags: func(string, SearchResult) []string { return []string{TagSearch} },
	}, err)
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// newCache returns a Cache with o's tiers on bus, unless err (an earlier
// Cache failed) is set: then it returns err.
func newCache[V any](o CacheOptions, bus *gateway.LocalBus, ao aside.Options[V], err error) (*aside.Cache[V], error) {
	if err != nil {
		return nil, err
	}
	ao.L2, ao.Lease, ao.Bus = o.L2, o.Lease, bus
	ao.L2Timeout, ao.MaxBytes, ao.Logger = o.L2Timeout, o.MaxBytes, o.Logger
	return aside.New(ao)
}

// invalidate drops every value carrying one of tags: in L2, in every Cache
// of this process (through the process's gateway.LocalBus, before it returns) and on every
// other instance (through the fleet's bus). One Cache's Invalidate does it
// all: tags are one namespace across the Caches.
func (c *Caches) invalidate(ctx context.Context, tags []string) error {
	return c.book.Invalidate(ctx, tags...)
}

// Close stops the caches and leaves the bus. It is idempotent.
func (c *Caches) Close() error {
	c.close.Do(func() {
		// A Cache that NewCaches did not get to create is nil.
		if c.book != nil {
			c.book.Close()
		}
		if c.page != nil {
			c.page.Close()
		}
		if c.count != nil {
			c.count.Close()
		}
		if c.author != nil {
			c.author.Close()
		}
		if c.search != nil {
			c.search.Close()
		}
		c.bus.Close()
	})
	return nil
}

// CacheStats are the counters of each cache, by name.
type CacheStats map[string]aside.Stats

// Stats returns the caches' counters.
func (c *Caches) Stats() CacheStats {
	return CacheStats{
		"book": c.book.Stats(), "page": c.page.Stats(), "count": c.count.Stats(),
		"author-books": c.author.Stats(), "search": c.search.Stats(),
	}
}

// Loads returns the loads of every cache together.
func (s CacheStats) Loads() uint64 {
	var n uint64
	for _, st := range s {
		n += st.Loads
	}
	return n
}

// cached returns c.Get(key, load), or load's answer when c is nil (the app
// runs without a cache).
func cached[V any](ctx context.Context, c *aside.Cache[V], key string, load func(context.Context) (V, error)) (V, error) {
	if c == nil {
		return load(ctx)
	}
	return c.Get(ctx, key, load)
}

// pageKey is the key of page number of size.
func pageKey(number, size int) string { return strconv.Itoa(number) + "/" + strconv.Itoa(size) }
