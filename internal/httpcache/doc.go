// Package httpcache holds the HTTP caching rules that moat applies as a
// shared cache: RFC 9111 (HTTP Caching), the freshness extensions of
// RFC 5861 (stale-while-revalidate, stale-if-error), the conditional
// requests of RFC 9110 §13 and the Cache-Status response field of RFC 9211.
//
// Everything here is a pure function or a plain value type: no I/O, no
// clock (callers pass the times they observed), no mutable globals. The
// functions run on every request, so the common paths do not allocate.
//
// The data flow through the gateway:
//
//	origin response ─▶ ParseResponseDirectives ─▶ Storable ─▶ (store or pass through)
//	                   FreshnessLifetime / HeuristicFreshness, InitialAge ─▶ entry
//	request ─▶ ParseRequestDirectives, CurrentAge vs. lifetime ─▶ hit, stale or miss
//	        ─▶ NotModified ─▶ 304 built from NotModifiedHeaders, or the stored response
//	        ─▶ AppendCacheStatus ─▶ Cache-Status field
//	unsafe request ─▶ InvalidationTargets ─▶ purge those URIs
//
// Header lookups use canonical keys (http.CanonicalHeaderKey), as net/http
// produces them. Unless a function says otherwise, a malformed field is read
// in the most conservative way: the one that serves less from cache.
package httpcache
