package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/policy"
)

// ErrBadPurge is wrapped by errors about invalid purge requests.
var ErrBadPurge = errors.New("gateway: invalid purge")

// ErrPurgeNotShared is wrapped by the error of a purge that took effect on
// this node but could not reach the state the fleet shares (the versions
// store): a node that starts later would not see it. Retry the purge.
var ErrPurgeNotShared = errors.New("gateway: purge applied on this node, but the shared state was not updated")

// Purge says what to invalidate. Tags, URLs and prefixes are removed (or,
// with Soft, marked stale so that they are served under their stale
// windows and refreshed); routes and all are invalidated in O(1) by bumping
// a namespace version, always hard.
type Purge struct {
	Tags     []string `json:"tags,omitempty"`
	URLs     []string `json:"urls,omitempty"`     // absolute URLs as clients request them
	Prefixes []string `json:"prefixes,omitempty"` // path prefixes, e.g. "/api/products/"
	Routes   []string `json:"routes,omitempty"`   // route patterns, e.g. "GET /api/products/{id}"
	All      bool     `json:"all,omitempty"`
	Soft     bool     `json:"soft,omitempty"`
	// ID identifies the purge across layers: a purge whose ID this cache
	// has seen lately (a retried delivery, or one that came back around a
	// loop of moats listing each other as purge targets) is not applied
	// or fanned out again; one without is given one. Origin is "moat" on
	// the purges another moat fans out.
	//
	// (Before IDs were remembered, a purge whose Origin was "moat" was not
	// fanned out again, so
	// nodes that list each other as purge targets do not loop.
	ID     string `json:"id,omitempty"`
	Origin string `json:"origin,omitempty"`
	// Versions are the namespace versions a route or all purge set (see
	// Versions), as the node that made it publishes them on the Bus; the
	// other nodes adopt them. Ignored from anywhere else.
	Versions map[string]uint64 `json:"versions,omitempty"`
	// Keep are the IDs (hex) of the entries a write-through stores in
	// place of what this purge removes; the nodes that hear the purge
	// vouch for those entries from L2 (see writethrough.go). Ignored in
	// purges from the admin API.
	Keep []string `json:"keep,omitempty"`
}

// Empty reports whether p names nothing to purge.
func (p Purge) Empty() bool {
	return len(p.Tags)+len(p.URLs)+len(p.Prefixes)+len(p.Routes) == 0 && !p.All
}

// PurgeResult reports what a purge did.
type PurgeResult struct {
	// Affected counts the stored entries removed or marked stale (for
	// routes and all: the entries made unreachable that the L1 tier held).
	Affected int `json:"affected"`
	// Duplicate says the purge's ID was seen lately: nothing was done.
	Duplicate bool `json:"duplicate,omitempty"`
	// Versions are the new namespace versions of the purged routes
	// (random: see Versions).
	Versions map[string]uint64 `json:"versions,omitempty"`
	Soft     bool              `json:"soft,omitempty"`

	gen uint64 // the generation the purge stamped (see writethrough.go)
}

// ranger is a tier that can list its entries (cache.Memory).
type ranger interface {
	Range(fn func(key string, e *cache.Entry) bool)
}

// Purge invalidates what p names, on this node, and hands p to
// Options.OnPurge (fan-out to other layers). After it returns, no request
// is answered from a purged entry, and no fill that started before it
// stores one (see generations).
func (h *Handler) Purge(ctx context.Context, p Purge) (PurgeResult, error) {
	return h.purge(ctx, p, PurgeAPI)
}

// ApplyEvent is Purge for a purge mapped from an event of the
// application's change stream (see internal/events): the same path,
// counted as kind "event". Give p an ID derived from the event's, so that
// an event delivered again to any node of the fleet that heard the first
// one on the Bus lately is a duplicate.
func (h *Handler) ApplyEvent(ctx context.Context, p Purge) (PurgeResult, error) {
	return h.purge(ctx, p, PurgeEvent)
}

// PurgeKind says where a purge came from.
type PurgeKind uint8

// Purge kinds, in PurgeKindNames order.
const (
	PurgeAPI    PurgeKind = iota // admin API, moat purge, Handler.Purge
	PurgeWrite                   // a route's invalidate rules after a write
	PurgeHeader                  // the origin's X-Moat-Invalidate
	PurgeRFC                     // RFC 9111 §4.4 after an unsafe method
	PurgeRemote                  // published by another node on the Bus
	PurgeEvent                   // an event on the application's change stream (ApplyEvent)
	NumPurgeKinds
)

// PurgeKindNames name the purge kinds in metrics.
var PurgeKindNames = [NumPurgeKinds]string{"api", "write", "header", "rfc9111", "remote", "event"}

func (h *Handler) purge(ctx context.Context, p Purge, kind PurgeKind) (PurgeResult, error) {
	if p.Empty() {
		return PurgeResult{}, fmt.Errorf("%w: name tags, urls, prefixes, routes or all", ErrBadPurge)
	}
	for _, list := range [...][]string{p.Tags, p.URLs, p.Prefixes, p.Routes} {
		if slices.Contains(list, "") {
			return PurgeResult{}, fmt.Errorf("%w: an empty tag, url, prefix or route", ErrBadPurge)
		}
	}
	var keys []string
	for _, raw := range p.URLs {
		u, err := url.Parse(raw)
		if err != nil || !u.IsAbs() || u.Host == "" {
			return PurgeResult{}, fmt.Errorf("%w: url %q is not an absolute URL", ErrBadPurge, raw)
		}
		// The URL's key under every configuration this cache keyed it
		// under lately: a fill of an older one still in flight must not
		// store it, and a reload back to one must not find it.
		for _, k := range h.core.keyers(h) {
			if key := k.keyForURL(u); !slices.Contains(keys, key) {
				keys = append(keys, key)
			}
		}
	}
	for _, pre := range p.Prefixes {
		if !strings.HasPrefix(pre, "/") {
			return PurgeResult{}, fmt.Errorf("%w: prefix %q must start with /", ErrBadPurge, pre)
		}
	}
	var routes []*policy.Policy
	for _, pattern := range p.Routes {
		pol := h.policyByPattern(pattern)
		if pol == nil {
			if kind == PurgeRemote {
				// Another node runs a config with this route (a rolling
				// deploy): the rest of its purge still applies here.
				h.log.Warn("purge from another node names a route this node does not have", "route", pattern)
				continue
			}
			return PurgeResult{}, fmt.Errorf("%w: no route %q", ErrBadPurge, pattern)
		}
		routes = append(routes, pol)
	}
	if kind != PurgeRFC && kind != PurgeRemote {
		p.Keep = nil // only a write-through's own purge names entries to keep
	}
	// Valid: remembered by its ID from here on (a refused one is not).
	switch {
	case p.ID == "":
		p.ID = newPurgeID()
		h.seen.add(p.ID)
	case !h.seen.add(p.ID) && kind != PurgeRemote:
		// A purge from the Bus is always applied: it carries the versions
		// the fleet converges on.
		return PurgeResult{Duplicate: true}, nil
	}
	now := h.now()
	stamps := p.Tags
	var versionErr error
	if len(routes) > 0 || p.All {
		// Routes and all change keys (namespace versions), which only this
		// node's keys follow: stamped as well, for fills in flight and for
		// entries other nodes stored under versions of their own (see
		// scopeTags).
		stamps = slices.Clone(p.Tags)
		names := make([]string, 0, len(routes)+1)
		for _, pol := range routes {
			stamps = append(stamps, routeStamp(pol.Pattern))
			names = append(names, pol.Pattern)
		}
		if p.All {
			stamps = append(stamps, allStamp)
			names = append(names, AllVersions)
		}
		p.Versions, versionErr = h.newVersions(ctx, names, p.Versions, kind)
	}
	gen := h.gens.stamp(stamps, keys, p.Prefixes)
	if kind == PurgeRemote && len(p.Keep) > 0 {
		h.kept.add(p.Keep, h.now())
	}
	res := PurgeResult{Soft: p.Soft, gen: gen}
	// With an L2 that applies purges, the node that made a purge applied
	// it to L2 (below): the nodes that hear it clear their L1 alone. (A
	// delete of theirs could land after a write-through's entry.)
	toL2 := !(kind == PurgeRemote && h.l2 != nil && h.l2.inv != nil)
	ctx = context.WithoutCancel(ctx) // a purge half done is worse than one finished late

	if p.All {
		res.Affected += h.countEntries(func(*cache.Entry) bool { return true })
	}
	for _, pol := range routes {
		res.Affected += h.countEntries(func(e *cache.Entry) bool { return e.Route == pol.Pattern })
		if res.Versions == nil {
			res.Versions = map[string]uint64{}
		}
		res.Versions[pol.Pattern] = p.Versions[pol.Pattern]
	}
	h.core.adoptVersions(p.Versions)
	for _, tag := range p.Tags {
		for _, key := range h.tags.Keys(tag) {
			res.Affected += h.invalidateKey(ctx, key, p.Soft, now, toL2)
		}
	}
	for _, key := range keys {
		res.Affected += h.invalidateURL(ctx, key, p.Soft, now, toL2)
	}
	if len(p.Prefixes) > 0 {
		if rg, ok := h.tier.(ranger); ok {
			var matched []string
			rg.Range(func(key string, _ *cache.Entry) bool {
				path := cache.PathOf(key)
				for _, pre := range p.Prefixes {
					if strings.HasPrefix(path, pre) {
						matched = append(matched, key)
						break
					}
				}
				return true
			})
			for _, key := range matched {
				res.Affected += h.invalidateKey(ctx, key, p.Soft, now, toL2)
			}
		}
	}
	var l2Err error
	var queued bool
	if kind != PurgeRemote && h.purges != nil && h.l2.inv != nil {
		// The tier applies it once for the fleet, then the Bus takes it
		// to the other nodes, which apply it to what they hold: off the
		// request path, in order, retried until L2 takes it. An API purge
		// waits for the first attempt, to answer whether it reached L2.
		tags := slices.Clone(p.Tags)
		for _, k := range keys {
			tags = append(tags, urlTag(k))
		}
		// A write-through's purge waits too: its entry goes to L2 after
		// the purge, which would remove it.
		//
		// An event's purge waits as well: its source acknowledges the event
		// only once the fleet has it. Each wait is bounded, as purges queue
		// behind one that L2 keeps refusing.
		wait := kind == PurgeAPI || kind == PurgeEvent || len(p.Keep) > 0
		wctx, cancel := context.WithTimeout(ctx, h.l2.purgeWait(len(p.Keep) > 0))
		l2Err = h.purges.add(wctx, cache.Invalidation{Keys: keys, Tags: tags, Prefixes: p.Prefixes}, p, wait)
		cancel()
		queued = true
	}
	h.stats.Purges.Add(1)
	h.stats.PurgesByKind[kind].Add(1)
	h.stats.PurgedByKind[kind].Add(int64(res.Affected))
	h.stats.Invalidations.Add(int64(res.Affected))
	if h.onPurge != nil && kind != PurgeRemote { // the node it was made on fans it out, with its ID
		h.onPurge(p)
	}
	if kind != PurgeRemote && !queued && h.publish != nil { // (a remote purge may arrive while New joins the Bus)
		h.publish(p)
	}
	if versionErr != nil || l2Err != nil {
		// Not shared: a retry of it (same ID) must be applied again, not
		// taken as a duplicate.
		h.seen.forget(p.ID)
	}
	if versionErr != nil {
		return res, fmt.Errorf("%w: namespace versions: %w", ErrPurgeNotShared, versionErr)
	}
	if l2Err != nil {
		return res, fmt.Errorf("%w: L2: %w", ErrPurgeNotShared, l2Err)
	}
	return res, nil
}

// newVersions returns the new versions of the purged namespaces: those a
// purge from another node carries (it raised them in the shared store), or
// new ones, greater than this node's, raised in the store (which answers
// the greatest it holds). If the store fails, the purge still takes effect
// with the versions this node picked, and the error is returned for the
// caller to report: a node that starts later reads the old versions from
// the store.
func (h *Handler) newVersions(ctx context.Context, names []string, carried map[string]uint64, kind PurgeKind) (map[string]uint64, error) {
	if kind == PurgeRemote && carried != nil {
		out := make(map[string]uint64, len(names))
		for _, n := range names {
			if v, ok := carried[n]; ok {
				out[n] = v
			}
		}
		if len(out) == len(names) {
			return out, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.versionTimeout)
	defer cancel()
	picked := h.ns.current(names)
	for n, v := range picked {
		picked[n] = NewVersion(v)
	}
	out, err := h.versionStore.Raise(ctx, picked)
	if err == nil && len(out) == len(names) {
		return out, nil
	}
	if err == nil {
		err = errors.New("the versions store returned fewer versions than asked")
	}
	h.log.Error("purge: shared namespace versions not updated; this node uses its own", "names", names, "err", err)
	return picked, err
}

// invalidateURL invalidates the entry of a URL's base key and every scoped
// or dimensioned entry of the URL (keys that extend base with a scope
// suffix), which carry the URL's tag (see urlTag).
func (h *Handler) invalidateURL(ctx context.Context, base string, soft bool, now time.Time, toL2 bool) int {
	n := h.invalidateKey(ctx, base, soft, now, toL2)
	for _, k := range h.tags.Keys(urlTag(base)) {
		n += h.invalidateKey(ctx, k, soft, now, toL2)
	}
	return n
}

// invalidateKey removes the entry under key, or marks it stale (soft), in
// L1 and (toL2) in L2. It returns 1 if there was an entry.
func (h *Handler) invalidateKey(ctx context.Context, key string, soft bool, now time.Time, toL2 bool) int {
	e, _ := h.tier.Get(ctx, key)
	if e == nil {
		if toL2 && h.l2 != nil && h.l2.inv == nil {
			// L2 may hold what L1 does not, and does not apply purges
			// itself (an Invalidator L2 gets the whole purge, once).
			h.deleteL2(key)
		}
		return 0
	}
	if soft && !e.VaryMarker && !e.HitForMiss {
		c := e.Clone()
		c.ID = cache.NewEntryID()
		c.Lifetime = min(c.Lifetime, c.Age(now)) // stale from now on
		if err := h.tags.Add(key, c); err == nil {
			if h.tier.Set(ctx, key, c) == nil {
				if toL2 {
					h.toL2(key, c, nil)
				}
				return 1
			}
		}
	}
	if toL2 {
		h.tierDelete(ctx, key)
	} else {
		h.l1Delete(ctx, key)
	}
	return 1
}

func (h *Handler) countEntries(match func(*cache.Entry) bool) int {
	rg, ok := h.tier.(ranger)
	if !ok {
		return 0
	}
	n := 0
	rg.Range(func(_ string, e *cache.Entry) bool {
		if !e.VaryMarker && !e.HitForMiss && match(e) {
			n++
		}
		return true
	})
	return n
}

// key returns the cache key of r under its route: the canonical primary
// key, plus the namespace versions when a route or global purge bumped
// them.
func (h *Handler) key(r *http.Request, pol *policy.Policy) string {
	return cachekey.RequestKeyWith(r, h.ns.suffixOf(pol))
}

func (h *Handler) versioned(key string, pol *policy.Policy) string {
	return h.ns.suffix(key, pol)
}

// keyForURL is the key a GET of u is stored under.
func (h *Handler) keyForURL(u *url.URL) string {
	r := &http.Request{Method: http.MethodGet, Host: u.Host, URL: &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}, Header: http.Header{}}
	if u.Scheme == "https" {
		r.TLS = tlsMarker
	}
	// As ServeHTTP derives it: the canonical request, its route, its
	// normalized query.
	r, _ = h.canonical(r)
	pol := h.policies.Match(r)
	if h.norm != nil {
		var rules *cachekey.ParamRules
		if pol != nil {
			rules = pol.Params
		}
		if path, query, changed := h.norm.Normalize(r.URL, rules); changed {
			cachekey.SetPathQuery(r.URL, path, query)
		}
	}
	return h.key(r, pol)
}

func (h *Handler) policyByPattern(pattern string) *policy.Policy {
	for _, p := range h.policies.Policies() {
		if p.Pattern == pattern {
			return p
		}
	}
	return nil
}

// Stamps of route and all purges, beside tags in the generations (never in
// the tag index). The NUL keeps them apart from any tag.
const allStamp = "\x00all"

func routeStamp(pattern string) string { return "\x00route " + pattern }

// scopeTags are the stamps a stored response is covered by besides its key
// and path: its tags, its route's and all's.
func scopeTags(tags []string, route string) []string {
	out := make([]string, 0, len(tags)+2)
	out = append(out, tags...)
	if route != "" {
		out = append(out, routeStamp(route))
	}
	return append(out, allStamp)
}

// newPurgeID returns a random purge ID: 32 hex digits.
func newPurgeID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// purgeIDs remembers the IDs of the last purges (a ring of fixed size), so
// that a purge arriving twice is applied once.
type purgeIDs struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring [4096]string
	next int
}

// forget drops id, if it is remembered: a purge that failed to reach the
// fleet, retried with its ID, is applied again.
func (s *purgeIDs) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; !ok {
		return
	}
	delete(s.set, id)
	for i, v := range s.ring { // rare (a purge that failed): a scan
		if v == id {
			s.ring[i] = "" // or its turn would drop a later add of id
		}
	}
}

// add records id and reports whether it was new.
func (s *purgeIDs) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, seen := s.set[id]; seen {
		return false
	}
	if s.set == nil {
		s.set = make(map[string]struct{}, len(s.ring))
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = id
	s.set[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
	return true
}
