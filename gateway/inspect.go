package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/policy"
)

// Inspection explains how the cache would treat a request, without
// forwarding it or changing anything.
type Inspection struct {
	Method       string            `json:"method"`
	URL          string            `json:"url"`
	Route        string            `json:"route"`
	Key          string            `json:"key"`
	Scope        string            `json:"scope"`
	Tier         string            `json:"tier,omitempty"`
	User         string            `json:"user,omitempty"`
	Normalized   string            `json:"normalized_url,omitempty"`
	Vary         map[string]string `json:"vary,omitempty"`
	BypassReason string            `json:"bypass_reason,omitempty"`
	Stored       bool              `json:"stored"`
	Fresh        bool              `json:"fresh"`
	AgeSeconds   float64           `json:"age_seconds,omitempty"`
	TTLSeconds   float64           `json:"ttl_seconds,omitempty"`
	SWRSeconds   float64           `json:"stale_while_revalidate_seconds,omitempty"`
	SIESeconds   float64           `json:"stale_if_error_seconds,omitempty"`
	Size         int               `json:"size,omitempty"`
	Status       int               `json:"status,omitempty"`
	Tags         []string          `json:"tags,omitempty"`
	ETag         string            `json:"etag,omitempty"`
	LastModified string            `json:"last_modified,omitempty"`
	NotStored    string            `json:"not_stored_reason,omitempty"`
	Verdict      string            `json:"verdict"`
}

// Inspect reports the route, key, scope and vary dimensions r resolves to,
// whether a response is stored for it and how fresh it is, and in one
// sentence what moat would do with r now.
func (h *Handler) Inspect(r *http.Request) Inspection {
	in := Inspection{Method: r.Method, URL: r.URL.String(), Scope: "public"}
	orig := r.URL.String()
	// The same canonical request ServeHTTP would derive everything from.
	r, refused := h.canonical(r.Clone(r.Context()))
	if refused != "" {
		in.BypassReason = refused + ": refused with 400 (dot segments behind an escaped separator or a segment parameter)"
		in.Verdict = "refused: 400, never forwarded"
		return in
	}
	dropNominated(r.Header)
	pol := h.policies.Match(r)
	if pol != nil {
		in.Route = pol.Pattern
	}
	now := h.now()
	nr, dims := h.normalize(r, pol)
	if nr.URL.String() != orig {
		in.Normalized = nr.URL.String()
	}
	r = nr
	suffix, bypass, id := h.scopeSuffix(r, pol, dims)
	if pol != nil {
		in.Scope = pol.Scope.String()
		switch pol.Scope {
		case policy.ScopeTier:
			in.Tier = id.Tier
		case policy.ScopeUser:
			if id.User != "" {
				in.User = "(keyed hash of the verified subject)"
			}
		}
	}
	reqCC := h.requestDirectives(r, pol)
	hasAuth := h.sharedAuth(r, pol)
	var authID Identity
	if hasAuth && h.ident != nil {
		authID = h.identify(r)
	}
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		in.BypassReason = "method: only GET and HEAD are answered from cache"
		if invalidates(r.Method) {
			in.BypassReason += "; a 2xx/3xx answer to " + r.Method + " invalidates the URL (RFC 9111 §4.4)"
		}
	case r.ContentLength != 0:
		in.BypassReason = "request-body: a GET or HEAD with a body is forwarded uncached"
	case hasAuth && h.ident != nil && !authID.Valid:
		in.BypassReason = "invalid credentials (" + authID.Reason + "): forwarded uncached, never answered from the cache"
	case pol != nil && pol.Bypass:
		in.BypassReason = "route: the route says cache: false"
	case h.passRanges && r.Header.Get("Range") != "":
		in.BypassReason = "range: partial content passes through (PassRanges)"
	case bypass == "credentials":
		in.BypassReason = "credentials: the request carries credentials (Authorization, an API key or an identity header) and the public route does not set allow_credentials"
	case bypass == "invalid-credentials":
		in.BypassReason = "invalid credentials (" + id.Reason + "): forwarded uncached, never given a cached tier response"
	case bypass != "":
		in.BypassReason = bypass + ": no verified user for a user-scoped route"
	}
	key := h.key(r, pol) + suffix
	in.Key = strings.NewReplacer("\x00s", " | ", "\x00d", " | ", "\x00", " | ", "\x01", "(absent)").Replace(key)
	e, marker, _ := h.lookup(r.Context(), key, r, true)
	if marker != nil {
		in.Vary = map[string]string{}
		for _, name := range marker.Vary {
			in.Vary[name] = r.Header.Get(name)
		}
	}
	if e != nil && e.HitForMiss {
		in.NotStored = e.NotStoredReason
		e = nil
	}
	if e != nil {
		in.Stored = true
		in.Status = e.Status
		in.AgeSeconds = e.Age(now).Seconds()
		in.TTLSeconds = e.TTL(now).Seconds()
		in.SWRSeconds = e.StaleWhileRevalidate.Seconds()
		in.SIESeconds = e.StaleIfError.Seconds()
		in.Size = e.Size()
		in.Tags = visibleTags(e.Tags)
		in.ETag, in.LastModified = e.ETag, e.LastModified
		in.Fresh = e.Fresh(now)
	}
	in.Verdict = h.verdict(&in, e, reqCC, hasAuth, now)
	return in
}

func (h *Handler) verdict(in *Inspection, e *cache.Entry, cc httpcache.RequestDirectives, hasAuth bool, now time.Time) string {
	switch {
	case in.BypassReason != "":
		return "bypass: forwarded to the origin, never stored (" + in.BypassReason + ")"
	case hasAuth && (e == nil || !e.AuthShareable):
		return "bypass for this request: it carries Authorization, and no stored response says public, s-maxage or must-revalidate (RFC 9111 §3.5); its own response is stored only if it says so"
	case cc.NoStore:
		return "miss: the request says no-store, so the response will not be stored"
	case e == nil && in.NotStored != "":
		return fmt.Sprintf("miss: the last response for this key was not storable (%s); requests go to the origin in parallel for a while", in.NotStored)
	case e == nil:
		return "miss: nothing stored for this key; the next request fetches from the origin and stores the response if RFC 9111 and the route allow"
	}
	switch h.usable(e, cc, now) {
	case useFresh:
		return fmt.Sprintf("hit: served from cache, fresh for %.0fs more", e.TTL(now).Seconds())
	case useStale:
		return fmt.Sprintf("stale hit: served from cache at once (stale for %.0fs, within stale-while-revalidate) while one background refresh runs", e.Staleness(now).Seconds())
	}
	if e.Validatable() {
		return "revalidate: stored but not fresh; the origin is asked with the stored validators and a 304 refreshes the entry"
	}
	return "miss: stored but stale and without validators; the next request refetches"
}

// KeyInfo describes one stored key, for the admin API.
type KeyInfo struct {
	Key        string   `json:"key"`
	URL        string   `json:"url"`
	Route      string   `json:"route"`
	Rate       float64  `json:"rate"`
	Stored     bool     `json:"stored"`
	AgeSeconds float64  `json:"age_seconds"`
	TTLSeconds float64  `json:"ttl_seconds"`
	Size       int      `json:"size"`
	Tags       []string `json:"tags,omitempty"`
	// Vary, for a key whose responses vary on request headers: the
	// header names (each variant is stored on its own).
	Vary []string `json:"vary,omitempty"`
}

// HotKey is one tracked key, hottest first (see hotkeys.Tracker.Top).
type HotKey struct {
	Key, URL string
	Rate     float64
}

// Describe returns what is stored for the given hot keys, filtered by route
// pattern when route is not empty, at most limit.
func (h *Handler) Describe(r *http.Request, hot []HotKey, route string, limit int) []KeyInfo {
	now := h.now()
	out := make([]KeyInfo, 0, min(len(hot), limit))
	for _, k := range hot {
		if len(out) >= limit {
			break
		}
		info := KeyInfo{Key: k.Key, URL: k.URL, Rate: k.Rate}
		e, _ := h.tier.Get(r.Context(), k.Key)
		if e != nil && e.VaryMarker {
			info.Stored = true
			info.Route = e.Route
			info.Vary = e.Vary
		} else if e != nil && !e.HitForMiss {
			info.Stored = true
			info.Route = e.Route
			info.AgeSeconds = e.Age(now).Seconds()
			info.TTLSeconds = e.TTL(now).Seconds()
			info.Size = e.Size()
			info.Tags = visibleTags(e.Tags)
		}
		if route != "" && info.Route != route {
			continue
		}
		out = append(out, info)
	}
	return out
}
