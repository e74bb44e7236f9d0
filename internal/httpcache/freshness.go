package httpcache

import (
	"net/http"
	"time"
)

// FreshnessLifetime returns the freshness lifetime of a response for a shared
// cache (RFC 9111 §4.2.1): s-maxage, else max-age, else Expires minus Date.
// A missing or invalid Date counts as responseTime (RFC 9110 §6.6.1). An
// invalid Expires such as "0", or more than one Expires field line, means the
// response is already stale (§5.3, §4.2.1): lifetime 0, ok true. ok is false
// when the response carries no explicit freshness information at all; see
// HeuristicFreshness for that case.
func FreshnessLifetime(h http.Header, d ResponseDirectives, responseTime time.Time) (lifetime time.Duration, ok bool) {
	switch {
	case d.HasSMaxAge:
		return d.SMaxAge, true
	case d.HasMaxAge:
		return d.MaxAge, true
	}
	expires := h["Expires"]
	if len(expires) == 0 {
		return 0, false
	}
	if len(expires) > 1 {
		return 0, true
	}
	exp, ok := parseHTTPDate(expires[0])
	if !ok {
		return 0, true
	}
	date, ok := headerDate(h, "Date")
	if !ok {
		date = responseTime
	}
	return saturate(exp.Sub(date)), true
}

// HeuristicFreshness returns a heuristic freshness lifetime (RFC 9111
// §4.2.2): 10% of the time since Last-Modified, as of Date (or responseTime),
// capped at maxLifetime. It is allowed only when the response has no explicit
// expiration and its status is heuristically cacheable or it is marked
// public. ok is false when it is not allowed, when Last-Modified is missing or
// invalid, or when maxLifetime <= 0 (heuristics off). A Last-Modified later than Date
// yields 0 with ok true.
func HeuristicFreshness(status int, h http.Header, d ResponseDirectives, responseTime time.Time, maxLifetime time.Duration) (time.Duration, bool) {
	if maxLifetime <= 0 || d.HasSMaxAge || d.HasMaxAge || len(h["Expires"]) > 0 {
		return 0, false
	}
	if !d.Public && !HeuristicallyCacheable(status) {
		return 0, false
	}
	lastModified, ok := headerDate(h, "Last-Modified")
	if !ok {
		return 0, false
	}
	date, ok := headerDate(h, "Date")
	if !ok {
		date = responseTime
	}
	return min(saturate(date.Sub(lastModified)/10), maxLifetime), true
}

// HeuristicallyCacheable reports whether status is cacheable by default,
// that is, may be given a heuristic freshness lifetime (RFC 9110 §15.1).
func HeuristicallyCacheable(status int) bool {
	switch status {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}
