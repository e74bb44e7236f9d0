package gateway

import (
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/policy"
)

// freshness is what a response's directives and its route's policy make of
// its lifetime and stale windows.
type freshness struct {
	lifetime, swr, sie time.Duration
	noCache            bool
	mustRevalidate     bool
	authShareable      bool
}

// freshness computes a stored response's freshness (RFC 9111 §4.2.1,
// §4.2.2; RFC 5861) under pol: the route's ttl applies when the origin
// gives no explicit freshness, or always with override_origin; likewise the
// route's stale windows. TTL jitter only ever shortens the lifetime.
// must-revalidate and proxy-revalidate close both stale windows (§4.2.4).
func (h *Handler) freshness(pol *policy.Policy, status int, hdr http.Header, d httpcache.ResponseDirectives, now time.Time) freshness {
	ttl, override := policyTTL(pol)
	lifetime, explicit := httpcache.FreshnessLifetime(hdr, d, now)
	if ttl > 0 && (override || !explicit) {
		lifetime, explicit = ttl, true
	}
	if !explicit {
		lifetime, _ = httpcache.HeuristicFreshness(status, hdr, d, now, h.heuristicMax)
	}
	var swr, sie time.Duration
	if d.HasStaleWhileRevalidate {
		swr = d.StaleWhileRevalidate
	}
	if d.HasStaleIfError {
		sie = d.StaleIfError
	}
	if pol != nil {
		if pol.TTLJitter > 0 && lifetime > 0 {
			lifetime -= time.Duration(rand.Float64() * pol.TTLJitter * float64(lifetime))
		}
		if pol.StaleWhileRevalidate > 0 && (override || !d.HasStaleWhileRevalidate) {
			swr = pol.StaleWhileRevalidate
		}
		if pol.StaleIfError > 0 && (override || !d.HasStaleIfError) {
			sie = pol.StaleIfError
		}
	}
	if d.MustRevalidate || d.ProxyRevalidate {
		swr, sie = 0, 0
	}
	return freshness{
		lifetime:       lifetime,
		swr:            swr,
		sie:            sie,
		noCache:        d.NoCache && len(d.NoCacheFields) == 0,
		mustRevalidate: d.MustRevalidate || d.ProxyRevalidate || d.HasSMaxAge,
		authShareable:  d.Public || d.HasSMaxAge || d.MustRevalidate,
	}
}

func (f freshness) apply(e *cache.Entry) {
	e.Lifetime = f.lifetime
	e.StaleWhileRevalidate = f.swr
	e.StaleIfError = f.sie
	e.NoCache = f.noCache
	e.MustRevalidate = f.mustRevalidate
	e.AuthShareable = f.authShareable
}
