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
	"net/url"
	"strings"
	"time"

	"github.com/moatproxy/moat/cachekey"
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

	// Tags are surrogate-key templates added to every stored response of
	// the route, e.g. "product:{id}": {name} is replaced by the request's
	// value of the pattern's wildcard.
	Tags []string
	// Invalidate are tag templates purged after a 2xx answer to a request
	// of the route (write-path invalidation, for unsafe-method routes).
	Invalidate []string
	// WriteThrough (on a PUT or PATCH route) says a 2xx answer's body is
	// the new state of the written URI: it is stored as the entry for the
	// GET of that URI (as an answer whose Content-Location is the target
	// URI is, RFC 9110 §8.7), after the write's invalidation.
	WriteThrough bool
	// Version is the route's initial namespace version; bumping it (a
	// routes purge) makes every stored entry of the route unreachable.
	Version uint64
	// Downstream, when not empty, replaces the Cache-Control sent to
	// clients (browsers, CDNs) on every response of the route, independent
	// of moat's own freshness.
	Downstream string
	// DownstreamFields are header fields set on every response of the
	// route to clients, by canonical name: what a CDN in front reads
	// (CDN-Cache-Control, Surrogate-Control, ...), beside Downstream.
	DownstreamFields map[string]string
	// TagFields are header fields (canonical names) that carry a stored
	// response's tags to the CDN in front: comma-separated, except
	// Surrogate-Key and Xkey, space-separated.
	TagFields []string
	// Upstream names the origin pool the route's requests go to (see
	// gateway.Options.Upstreams); empty: the handler's Origin.
	Upstream string

	// Params are the route's compiled query rules (nil: global rules only).
	Params *cachekey.ParamRules
	// Vary are request header fields (canonical names) whose normalized
	// values are part of the key and are sent to the origin.
	Vary []string
	// Languages and MediaTypes are what Accept-Language and Accept are
	// negotiated to when they are in Vary.
	Languages, MediaTypes []string
	// Scope says who shares an entry.
	Scope Scope
	// AllowCredentials lets requests with credentials use a public route's
	// cache under RFC 9111 §3.5; by default they bypass it.
	AllowCredentials bool
	// IgnoreClientCacheControl makes the route ignore what clients ask of
	// the cache in Cache-Control and Pragma (no-cache, max-age, min-fresh,
	// max-stale, no-store), as nginx and Varnish do by default: a client
	// cannot send every request to the origin. only-if-cached is kept.
	IgnoreClientCacheControl bool
}

// Scope says who may share a stored response.
type Scope uint8

// Scopes.
const (
	// ScopePublic: everyone shares one entry per key; requests that carry
	// credentials bypass the cache unless AllowCredentials.
	ScopePublic Scope = iota
	// ScopeTier: the key includes the caller's verified tier, never the
	// credential itself.
	ScopeTier
	// ScopeUser: the key includes a keyed hash of the verified subject.
	ScopeUser
)

// ParseScope maps "public", "tier", "user" ("" is public).
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "public":
		return ScopePublic, nil
	case "tier":
		return ScopeTier, nil
	case "user":
		return ScopeUser, nil
	}
	return 0, fmt.Errorf("policy: unknown scope %q (want public, tier or user)", s)
}

func (s Scope) String() string {
	return [...]string{"public", "tier", "user"}[s]
}

// Expand replaces {name} in each template with the value of the pattern's
// wildcard name in path (an escaped request path), and returns the
// results. A template naming a wildcard the pattern lacks, or whose value
// is empty, is dropped.
func (p *Policy) Expand(templates []string, path string) []string {
	if len(templates) == 0 {
		return nil
	}
	values := PathValues(p.Pattern, path)
	out := make([]string, 0, len(templates))
	for _, t := range templates {
		if v, ok := expand(t, values); ok {
			out = append(out, v)
		}
	}
	return out
}

func expand(t string, values map[string]string) (string, bool) {
	if !strings.Contains(t, "{") {
		return t, true
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String(), true
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			return b.String(), true
		}
		v := values[t[i+1:i+j]]
		if v == "" {
			return "", false
		}
		b.WriteString(t[:i])
		b.WriteString(v)
		t = t[i+j+1:]
	}
}

// PathValues returns the values of pattern's wildcards in path, which the
// pattern is known to match (as http.Request.PathValue would: unescaped).
func PathValues(pattern, path string) map[string]string {
	if _, after, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(after, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:] // drop a host
	}
	psegs := strings.Split(strings.TrimPrefix(pattern, "/"), "/")
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	values := map[string]string{}
	for i, ps := range psegs {
		if !strings.HasPrefix(ps, "{") || !strings.HasSuffix(ps, "}") || ps == "{$}" {
			continue
		}
		name := ps[1 : len(ps)-1]
		if rest, ok := strings.CutSuffix(name, "..."); ok {
			if i < len(segs) {
				v, err := url.PathUnescape(strings.Join(segs[i:], "/"))
				if err == nil {
					values[rest] = v
				}
			}
			break
		}
		if i < len(segs) {
			if v, err := url.PathUnescape(segs[i]); err == nil {
				values[name] = v
			}
		}
	}
	return values
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
	memo     *matchMemo
}

// New builds a table. Patterns are validated by net/http.ServeMux; an
// invalid or conflicting pattern is reported as an error naming it.
func New(policies []Policy) (*Table, error) {
	t := &Table{mux: http.NewServeMux(), memo: newMatchMemo()}
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
	if p, ok := t.memo.get(r.Method, r.Host, r.URL.Path, r.URL.RawPath); ok {
		return p
	}
	var p *Policy
	h, _ := t.mux.Handler(r)
	if rt, ok := h.(route); ok {
		p = rt.p
	}
	t.memo.put(r.Method, r.Host, r.URL.Path, r.URL.RawPath, p)
	return p
}

// Policies returns the table's policies in configuration order.
func (t *Table) Policies() []*Policy {
	if t == nil {
		return nil
	}
	return t.policies
}
