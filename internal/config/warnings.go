package config

import (
	"cmp"
	"fmt"
	"github.com/moatproxy/moat/cachekey"
	"maps"
	"net/url"
	"slices"
	"time"
)

// Warnings returns the settings of c that are valid but probably unsafe or without effect,
// sorted by line, each a *FieldError with Warning set and the line of its key:
//
//	moat.yaml:12: routes[0].ttl: warning: 2160h (90 days) is more than 30 days: ...
//
// `moat validate` prints them and, with --strict, fails on them; `moat serve` logs them. They
// are not errors: Load, Parse, Validate and ValidateServe accept a config that has some.
// Warnings assumes a config that validates; for one that does not, it may miss some.
func (c *Config) Warnings() []*FieldError {
	k := &checker{c: c}
	if why, loopback := c.weakAdminToken(); why != "" && loopback {
		k.warnf("admin.token", []string{"admin.listen"}, "the token %s: any local user or process could purge the cache and list its keys; %s", why, fixAdminToken)
	}
	k.trackingParams()
	k.securityWarnings()
	k.routeWarnings()
	k.longTTLs()
	slices.SortStableFunc(k.list, func(a, b *FieldError) int { return cmp.Compare(a.Line, b.Line) })
	return k.list
}

// longTTL is the longest ttl (of a route or a volatility class) given without a warning.
const longTTL = Duration(30 * 24 * time.Hour)

// probeQuery holds parameter names of every shape (letters of either case, digits,
// punctuation, '/', multi-byte UTF-8), to find a tracking pattern that matches them all.
const probeQuery = "a=1&Z=1&0=1&_=1&-=1&.=1&~=1&%2F=1&%C3%A9=1&id=1&page_size=1&Q=1&X-Y=1"

// trackingParams warns of a keys.tracking_params pattern that matches every parameter name. It
// asks a Normalizer with that one pattern to normalize probeQuery, so that the answer follows
// cachekey's own matching rules.
func (k *checker) trackingParams() {
	off := false
	for i, p := range k.c.Keys.TrackingParams {
		n, err := cachekey.NewNormalizer(cachekey.Options{StripTracking: &off, TrackingParams: []string{p}})
		if err != nil {
			continue // reported by Validate
		}
		if _, q, _ := n.Normalize(&url.URL{Path: "/", RawQuery: probeQuery}, nil); q == "" {
			k.warnf(fmt.Sprintf("keys.tracking_params[%d]", i), []string{"keys.tracking_params"},
				"%q matches every parameter name: every query parameter would be dropped (except those a route's params.allow lists), "+
					"so the origin would never see a query; list the tracking parameters by name or prefix (e.g. ref_*)", p)
		}
	}
}

// securityWarnings warns of a security section that lets unkeyed request fields through.
func (k *checker) securityWarnings() {
	s := k.c.Security
	if s.StripHeaders != nil && len(s.StripHeaders) == 0 {
		k.warnf("security.strip_headers", nil, "strips nothing: fields that origins honour but keys do not carry "+
			"(X-Forwarded-Scheme, X-Original-URL, X-HTTP-Method-Override, ...) reach the origin, so one client could choose the answer "+
			"stored for everyone; keep the default list and remove only the fields your origin is known to ignore")
	}
	if s.AllowUnderscoreHeaders {
		k.warnf("security.allow_underscore_headers", nil, "origins that fold '_' into '-' (CGI, PHP, Rack, WSGI) will read "+
			"X_Forwarded_Host as X-Forwarded-Host and X_API_Key as X-API-Key, around strip_headers and the keying of the real field")
	}
}

// routeWarnings warns of route settings that contradict each other or share what should not be
// shared.
func (k *checker) routeWarnings() {
	for i := range k.c.Routes {
		r := &k.c.Routes[i]
		base := fmt.Sprintf("routes[%d]", i)
		public := r.Scope == "" || r.Scope == "public"
		if r.Cached() && public && r.AllowCredentials && r.OverrideOrigin {
			k.warnf(base+".allow_credentials", []string{base + ".override_origin"},
				"with override_origin, moat chooses how long a response to a request with credentials stays fresh, "+
					"and serves it to every client; use scope: tier or scope: user unless the route's responses are the same for everyone")
		}
		if r.Cached() && public && r.AllowCredentials && r.AllowSetCookie {
			k.warnf(base+".allow_set_cookie", []string{base + ".allow_credentials"},
				"with allow_credentials, a response that sets a cookie for a client with credentials is stored and served "+
					"to every client (without its Set-Cookie), though such a response is usually that client's own; "+
					"use scope: tier or scope: user, or drop one of the two")
		}
		if !r.Cached() && (r.TTL != 0 || r.Volatility != "") {
			k.warnf(base+".cache", []string{base + ".ttl", base + ".volatility"}, "cache: false bypasses the cache, so the route's ttl and volatility have no effect; remove one or the other")
		}
		if r.Cached() && public && r.AllowCredentials && !r.OverrideOrigin && !r.AllowSetCookie && r.GraphQL == nil {
			k.warnf(base+".allow_credentials", []string{base + ".scope"},
				"requests with credentials share the route's public entries (when the origin marks them public, RFC 9111 §3.5): "+
					"if its responses depend on who asks, use scope: tier or scope: user")
		}
		if !r.Cached() && (r.Scope == "tier" || r.Scope == "user") {
			k.warnf(base+".scope", []string{base + ".cache"}, "scope %s has no effect with cache: false (the route bypasses the cache)", r.Scope)
		}
		if d := r.Downstream; d != nil && (r.Scope == "tier" || r.Scope == "user") && !d.Private && !d.NoStore && (d.Public || d.SMaxAge != nil) {
			k.warnf(base+".downstream", nil,
				"public or s_maxage on a scope %s route lets shared caches in front of moat (CDNs, proxies) store one %s's response "+
					"and serve it to others, as they do not key on moat's scope; use private, or no s_maxage", r.Scope, r.Scope)
		}
	}
}

// longTTLs warns of a ttl above longTTL, of a route or a volatility class.
func (k *checker) longTTLs() {
	long := func(key string, d Duration) {
		if d > longTTL {
			k.warnf(key, nil, "%s (%d days) is more than 30 days: a wrong or outdated response would be served that long "+
				"unless it is purged; prefer a shorter ttl with stale_while_revalidate", d, d.D()/(24*time.Hour))
		}
	}
	for i := range k.c.Routes {
		long(fmt.Sprintf("routes[%d].ttl", i), k.c.Routes[i].TTL)
	}
	for _, name := range slices.Sorted(maps.Keys(k.c.Volatility)) {
		if t := k.c.Volatility[name].TTL; t != nil {
			long(mapKey("volatility", name)+".ttl", *t)
		}
	}
}
