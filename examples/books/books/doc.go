// Package books is the books API of examples/books: a REST API on SQLite
// whose reads go through moat's typed cache-aside library (package aside).
//
// # Data flow
//
//	GET  ─▶ API handler ─▶ Caches: aside.Cache per value type
//	                         hit   the value, no statement
//	                         miss  one load per key per process (and per fleet with Redis:
//	                               a lease), Store reads SQLite, the value is kept with its tags
//	write ─▶ Store: one transaction (BEGIN IMMEDIATE), committed
//	      ─▶ Caches.invalidate(the write's tags): L2 (Redis), every Cache of this
//	         process (gateway.LocalBus), every other instance (the fleet's bus)
//	      ─▶ the answer, naming the tags in X-Moat-Invalidate for a proxy in front
//
// The database is written first and the caches invalidated after the
// commit, so a load that starts after the invalidation reads the new rows;
// a load that started before it is not stored (aside's fences), so no purge
// is undone by a read that was already in flight.
//
// Which write invalidates which value is in tags.go, with the reasons; the
// tests check that a write reloads what it changed and nothing else.
//
// Without Caches (Options.Caches nil) every read queries the database:
// the "before" of the benchmarks, and the origin of a moat proxy
// (examples/books/moat.yaml), which caches the same answers by the
// Surrogate-Key the API sends.
package books
