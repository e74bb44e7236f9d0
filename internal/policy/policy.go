// Package policy maps requests to per-route caching policies.
//
// Routes are Go 1.22 net/http.ServeMux patterns ("GET /api/products/{id}",
// "/static/{path...}", "GET /{$}"). Matching is delegated to a private
// ServeMux, so precedence ("most specific wins"), method matching (a GET
// pattern also matches HEAD) and wildcard rules are exactly the standard
// library's, and invalid or conflicting patterns are rejected the same way.
package policy

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrPattern is wrapped by errors about invalid or conflicting patterns.
var ErrPattern = errors.New("policy: invalid route pattern")

// Policy is what one route may cache and for how long.
type Policy struct {
	// Pattern is the route's ServeMux pattern; it names the route in
	// metrics, logs and Cache-Status.
	Pattern string
	// TTL is the freshness lifetime given to responses that carry no
	// explicit freshness of their own. Zero: plain RFC 9111.
	TTL time.Duration
	// OverrideOrigin makes TTL replace the origin's max-age/s-maxage/
	// Expires. It never overrides no-store, private or no-cache.
	OverrideOrigin bool
	// Bypass sends every request of the route to the origin uncached.
	Bypass bool
	// AllowSetCookie stores responses that carry Set-Cookie; the stored copy
	// has Set-Cookie removed, so only the requesting client receives it.
	AllowSetCookie bool

	// StaleWhileRevalidate is how long past freshness an entry is served
	// at once while one background refresh runs (RFC 5861). It applies when
	// the origin's response carries no stale-while-revalidate, or always
	// with OverrideOrigin.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long past freshness an entry is served instead of
	// an origin error (5xx, timeout, refused connection; RFC 5861). Same
	// precedence as StaleWhileRevalidate.
	StaleIfError time.Duration
	// TTLJitter shortens each stored entry's freshness by a random fraction
	// in [0, TTLJitter), so entries stored together expire apart. 0..0.5.
	TTLJitter float64
	// EarlyRefresh is the XFetch beta (Vattani et al., VLDB 2015): a hit on
	// a fresh entry triggers a background refresh with a probability that
	// grows as expiry nears, scaled by how long the origin took. 0 is off;
	// 1 is the paper's recommended value.
	EarlyRefresh float64
	// RefreshAhead refreshes entries shortly before expiry when their
	// request rate predicts requests in the next lifetime (predictive
	// refresh), within the global refresh budget, hottest keys first.
	RefreshAhead bool
	// NoCoalesce lets concurrent misses of one key all go to the origin.
	NoCoalesce bool
	// MaxOriginConcurrency caps this route's concurrent origin requests
	// (0: only the global cap applies).
	MaxOriginConcurrency int
}

// route is the http.Handler registered for a pattern; Match recovers the
// policy from it. It is never called.
type route struct{ p *Policy }

func (route) ServeHTTP(http.ResponseWriter, *http.Request) {}

// Table matches requests against policies. The zero value is not usable;
// a nil *Table matches nothing.
type Table struct {
	mux      *http.ServeMux
	policies []*Policy
}

// New builds a table. Patterns are validated by net/http.ServeMux; an
// invalid or conflicting pattern is reported as an error naming it.
func New(policies []Policy) (*Table, error) {
	t := &Table{mux: http.NewServeMux()}
	for i := range policies {
		p := policies[i]
		if err := register(t.mux, p.Pattern, route{&p}); err != nil {
			return nil, err
		}
		t.policies = append(t.policies, &p)
	}
	return t, nil
}

// register turns ServeMux's panics into errors.
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w %q: %v", ErrPattern, pattern, r)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}

// Match returns the policy of the most specific route matching r, or nil.
// Requests that ServeMux would redirect (unclean paths) match no route.
func (t *Table) Match(r *http.Request) *Policy {
	if t == nil || len(t.policies) == 0 {
		return nil
	}
	h, _ := t.mux.Handler(r)
	if rt, ok := h.(route); ok {
		return rt.p
	}
	return nil
}

// Policies returns the table's policies in configuration order.
func (t *Table) Policies() []*Policy {
	if t == nil {
		return nil
	}
	return t.policies
}
