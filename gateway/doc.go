// Package gateway is moat's caching reverse proxy: an http.Handler that
// answers repeated reads from a cache.Tier and forwards the rest to one
// origin through net/http/httputil.ReverseProxy.
//
// The request path:
//
//  1. policy: the request is matched to a route policy (or none);
//  2. key: a canonical key is built from method, scheme, host, path, query;
//  3. lookup: the tier is asked for the key; an entry that varies on request
//     headers (a Vary marker) leads to the variant for this request;
//  4. hit: a fresh entry is written with Age and Cache-Status, or a 304 when
//     the client's validators match;
//  5. stale: an entry with validators is revalidated with the origin and
//     refreshed on 304;
//  6. miss: concurrent misses of a key are coalesced; one request goes to
//     the origin, and its response is stored while it streams to the client
//     when RFC 9111 and the route's policy allow;
//  7. writes: unsafe methods pass through, and a 2xx/3xx answer invalidates
//     the target URI and Location/Content-Location (RFC 9111 §4.4).
//
// Every response carries Cache-Status (RFC 9211) and X-Cache.
package gateway
