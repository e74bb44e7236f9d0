// Package aside is a typed cache-aside library on moat's engine: an
// application asks a Cache for a key and hands it the function that loads
// the value from the database; the Cache answers from memory when it can
// and calls the loader once when it cannot, however many callers, and
// however many nodes, ask at the same time.
//
// # Data flow
//
//	Get(ctx, key, load)
//	  L1   otter (W-TinyLFU, bounded by MaxBytes)
//	       fresh        → the value (early or predictive refresh may start in the background)
//	       stale, SWR   → the stale value now, one background reload
//	       else         → join the key's flight, or start it:
//	  flight (one per key per process; every caller waits on it, each under its own ctx)
//	       L2           Options.L2: a fresh copy another node stored is decoded and used
//	       lease        Options.Lease: one node of the fleet loads; the others poll L2
//	       load         under a context detached from the callers', bounded by LoadTimeout
//	       store        L1 and L2, then the callers are answered and the lease goes
//	  error             stale within StaleIfError, or the error to every waiter
//
// Invalidate(tags) and Delete(keys) apply to L2, then on this node, then on
// the Bus, so that every node (and every moat proxy on the same bus) drops
// what they name. A load that started before an invalidation that covers it
// answers its callers but is not stored: no purge is undone by a load that
// was already in flight.
//
// # Keys
//
// An L2 key is "aside:" + Name + "@" + Version + ":" + key (the key escaped
// if it holds '%' or "://"), so Caches of different Names never meet in a
// shared tier, and a Cache whose Version changed never decodes the bytes
// the old schema wrote. In a cache.Invalidator L2 each copy also carries a
// tag that names its key in every Version, so that Delete reaches them all
// (with Redis: one more small index per key).
//
// WARNING: the key is the whole identity of a value. Whatever the value
// depends on besides the key's resource (the tenant, the user, the
// language, the permissions the loader ran with) must be in the key, or one
// caller is answered with another's value. aside never adds tenancy on its
// own: Get(ctx, "invoice:42", ...) is the same value for every caller.
//
// # Tags
//
// Tags are surrogate keys ("book:42", "author:7"): Invalidate("book:42")
// removes every value carrying the tag, in every Cache that shares the bus
// or the L2, and in the moat proxies on the same bus, whose cached
// responses can carry the same tags. Tags are one namespace across all of
// them; that is the point.
//
// # A fleet
//
// Processes that share a Redis share values, loads and invalidations:
//
//	rc, err := redisl2.New(redisl2.Options{Addrs: []string{"10.0.0.5:6379"}})
//	...
//	books, err := aside.New(aside.Options[Book]{
//		Name: "books", Version: "3", TTL: 10 * time.Minute,
//		L2: rc.Tier(), Lease: rc.Lease(), Bus: rc.Bus(redisl2.BusOptions{}),
//	})
//
// Give the client the KeyPrefix of moat's cache.redis for the proxies and
// the application to hear each other's tag purges.
//
// Several Caches in one process should share one gateway.NewLocalBus on
// the fleet's bus rather than join it each: a purge then reaches the
// process's other Caches before Invalidate returns (a client reads its own
// write), and the process reads the fleet's bus once.
package aside
