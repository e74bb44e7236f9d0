package gateway

import (
	"cmp"
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/policy"
)

// ServeHTTP answers r from the cache or the origin.
//
// The route is matched on the canonical request (see canonical), from which
// the key and the origin request are derived too.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r, refused := h.canonical(r)
	var pol *policy.Policy
	if refused == "" {
		pol = h.policies.Match(r)
		if h.exts != nil && h.exts[pol] != nil {
			ext := h.exts[pol]
			h.serveObserved(w, r, pol, func(w http.ResponseWriter, o *outcome) {
				o.result = ResultBypass
				ext.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, o)))
			})
			return
		}
	}
	if h.obs == nil && h.accessLog == nil {
		var o outcome
		h.serve(w, r, pol, refused, &o)
		return
	}
	// serveObserved without its closure: an outcome passed to a func value
	// would be allocated on every request.
	start, rec, ow := h.observeStart(w)
	var o outcome
	h.serve(ow, r, pol, refused, &o)
	h.observeEnd(r, pol, start, rec, &o)
}

// serve answers r (refused, for the reason given, if that is not "") and
// records in o how, in named steps: refuse or bypass, build the lookup
// (key, scope, credentials), answer from the store, wait for or lead the
// fill, fetch.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, pol *policy.Policy, refused string, o *outcome) {
	o.result = ResultBypass
	if refused != "" {
		h.refuse(w, refused)
		return
	}
	h.guard(w, r)
	if fwd, detail := h.bypassReason(r, pol); fwd != "" {
		h.forwardUncached(w, r, pol, fwd, detail)
		return
	}
	var q cacheable
	if !h.prepare(w, r, pol, &q) {
		return // forwarded uncached
	}
	o.key = q.key
	if h.answerFromStore(w, &q, o) {
		return
	}
	if q.cc.OnlyIfCached {
		// RFC 9111 §5.2.1.7.
		hdr := w.Header()
		setStatus(hdr, h.name, httpcache.Status{Fwd: "miss", Detail: "only-if-cached"}, xCacheMiss)
		w.WriteHeader(http.StatusGatewayTimeout)
		return
	}
	if _, ranged := q.r.Header["Range"]; ranged {
		// The origin answers the range (see forwardRange); the whole
		// response is fetched in the background for the next ones.
		h.forwardRange(w, rangeMiss{r: q.r, pol: q.pol, key: q.key, stale: q.stale, fwd: q.fwd, pass: q.pass})
		return
	}
	h.track(q.r, q.key, pol, false)
	f := &fill{h: h, pol: pol, key: q.key, base: q.base, primary: q.primary, reqCC: q.cc, auth: q.auth, fwd: q.fwd, stale: q.stale}
	if q.stale != nil {
		f.fwd = "stale"
	}
	if q.pass {
		f.fwd, f.detail = "miss", "hit-for-miss"
	} else if !q.auth && !q.cc.NoStore && (pol == nil || !pol.NoCoalesce) {
		if h.coalesce(w, &q, f, o) {
			return
		}
	}
	h.fetch(w, q.r, f)
	o.result, o.origin = f.result, f.originTime
}

// cacheable is one cacheable request on its way through serve: the
// normalized request and everything derived from it once.
type cacheable struct {
	r       *http.Request // normalized: what the origin receives
	pol     *policy.Policy
	base    string // key of the URL alone
	key     string // base + scope and dimensions
	cc      httpcache.RequestDirectives
	auth    bool // RFC 9111 §3.5 applies (see sharedAuth)
	now     time.Time
	primary *cache.Entry // Vary marker under key, if any
	fwd     string       // Cache-Status fwd reason of a miss
	stale   *cache.Entry // stored, but not servable as is
	pass    bool         // a hit-for-miss marker: do not coalesce
}

// bypassReason names why r goes to the origin without the cache (the
// Cache-Status fwd reason and detail), or "" if it may use it.
func (h *Handler) bypassReason(r *http.Request, pol *policy.Policy) (fwd, detail string) {
	switch {
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		return "method", ""
	case r.ContentLength != 0:
		// A GET with a body: the key cannot describe the body, and the
		// origin may answer by it. Never stored, never answered from the
		// cache.
		return "bypass", "request-body"
	case pol != nil && pol.Bypass:
		return "bypass", "route"
	case h.passRanges && r.Header.Get("Range") != "":
		// Options.PassRanges: ranges pass through to the origin.
		return "partial", ""
	}
	return "", ""
}

// prepare fills q for r: the normalized request, its scope, its key. A
// request whose scope or credentials forbid the cache is forwarded
// uncached, and prepare reports false.
func (h *Handler) prepare(w http.ResponseWriter, r *http.Request, pol *policy.Policy, q *cacheable) bool {
	if r, bypass := h.lookupFor(r, pol, q); bypass != "" {
		h.forwardUncached(w, r, pol, "bypass", bypass)
		return false
	}
	return true
}

// lookupFor fills q for r, or names why r may not use the cache (the
// Cache-Status detail) and returns the normalized request. Requests and
// write-throughs (which store for the GET of a written URI) share it, so
// that both key a response the same way.
func (h *Handler) lookupFor(r *http.Request, pol *policy.Policy, q *cacheable) (*http.Request, string) {
	r, dims := h.normalize(r, pol)
	suffix, bypass, _ := h.scopeSuffix(r, pol, dims)
	if bypass != "" {
		return r, bypass
	}
	q.auth = h.sharedAuth(r, pol)
	if q.auth && h.ident != nil {
		// Credentials that fail verification never get a cached answer,
		// not even one the origin marked shareable (docs/auth.md).
		if id := h.identify(r); !id.Valid {
			return r, "invalid-credentials"
		}
	}
	q.r, q.pol, q.now = r, pol, h.now()
	q.cc = h.requestDirectives(r, pol)
	q.base = h.key(r, pol)
	q.key = q.base + suffix
	return r, ""
}

// answerFromStore looks q up and answers it from a fresh entry, or a stale
// one within stale-while-revalidate (refreshing it once in the
// background). Otherwise it records in q what the fill needs (the stale
// entry, the Vary marker, the miss reason) and reports false.
func (h *Handler) answerFromStore(w http.ResponseWriter, q *cacheable, o *outcome) bool {
	h.observeEncoding(q.r)
	e, primary, fwd := h.lookup(q.r.Context(), q.key, q.r, true)
	q.primary, q.fwd = primary, fwd
	if e != nil && e.HitForMiss {
		q.pass, e = true, nil
	}
	if e != nil && q.auth && !e.AuthShareable {
		// RFC 9111 §3.5: a response stored for anyone does not answer a
		// request with credentials unless the origin said it may.
		e = nil
	}
	if e == nil {
		return false
	}
	switch h.usable(e, q.cc, q.now) {
	case useFresh:
		o.result = ResultHit
		h.track(q.r, q.key, q.pol, true)
		h.observe(q.r, q.key, e, q.pol, q.now)
		h.serveEntry(w, q.r, q.pol, e, q.now, httpcache.Status{Hit: true}, "HIT")
		return true
	case useStale:
		// RFC 5861 stale-while-revalidate: answer now, refresh once in
		// the background however many requests arrive.
		o.result = ResultStale
		h.track(q.r, q.key, q.pol, true)
		h.observe(q.r, q.key, e, q.pol, q.now)
		h.refresher.trigger(q.r, q.key, e, q.pol, causeSWR)
		h.serveEntry(w, q.r, q.pol, e, q.now, httpcache.Status{Fwd: "stale", Detail: "stale-while-revalidate"}, "STALE")
		return true
	}
	q.stale = e
	return false
}

// coalesce joins q's key's fill: one origin request per key, for a miss
// and for a revalidation alike. A waiter waits for the leader and looks
// the key up again (cache.Group explains why it does not share the
// leader's response), or gets the leader's failure; it reports whether it
// answered. The leader checks the store once more (a leader that finished
// between the lookup and Join may have stored what it needs) and
// otherwise leads f.
func (h *Handler) coalesce(w http.ResponseWriter, q *cacheable, f *fill, o *outcome) bool {
	ctx := q.r.Context()
	call, leader := h.group.Join(q.key)
	if leader {
		// L1 only: L2 was asked a moment ago, and one request pays the L2
		// deadline once at most.
		if e, _, _ := h.lookup(ctx, q.key, q.r, false); e != nil && !e.HitForMiss && !sameEntry(e, q.stale) && h.usable(e, q.cc, h.now()) == useFresh {
			h.group.Done(q.key, call)
			o.result = ResultHit
			h.serveEntry(w, q.r, q.pol, e, h.now(), httpcache.Status{Hit: true, Collapsed: true}, "HIT")
			return true
		}
		f.call = call
		h.stats.Leaders.Add(1)
		release, e := h.takeLease(ctx, q.key, q.r, func(e *cache.Entry) bool {
			return !sameEntry(e, q.stale) && h.usable(e, q.cc, h.now()) == useFresh
		})
		if e != nil {
			// Another node filled it for the fleet, and it is in L1 now.
			h.group.Done(q.key, call)
			o.result = ResultHit
			h.serveEntry(w, q.r, q.pol, e, h.now(), httpcache.Status{Hit: true, Collapsed: true, Detail: "fleet"}, "HIT")
			return true
		}
		f.lease = release
		return false
	}
	h.stats.Collapsed.Add(1)
	noteWaiting(ctx)
	if call.Wait(ctx, h.coalesceWait) {
		if fe := call.Failure(); fe != nil {
			h.answerFailure(w, q.r, q.pol, q.stale, fe, o)
			return true
		}
		now := h.now()
		if e, _, _ := h.lookup(ctx, q.key, q.r, false); e != nil && !e.HitForMiss { // the leader stored into L1
			use := h.usable(e, q.cc, now)
			if use == useNone && !e.ResponseTime.Before(q.now) && e.Lifetime > e.Age(now) {
				// The origin answered the leader after this request
				// arrived: that is the fresh answer a client asking
				// no-cache or max-age=0 wants (RFC 9111 §5.2.1.4), and
				// asking again would make every such client an origin
				// request.
				use = useFresh
			}
			switch use {
			case useFresh, useStale:
				o.result = ResultHit
				h.serveEntry(w, q.r, q.pol, e, now, httpcache.Status{Hit: true, Collapsed: true}, "HIT")
				return true
			}
			f.stale = e
		}
	}
	if ctx.Err() != nil {
		o.result = ResultMiss
		return true
	}
	if f.stale == nil {
		f.fwd = "miss"
	}
	return false
}

type use int

const (
	useNone  use = iota // fetch anew (revalidating when the entry has validators)
	useFresh            // serve as is
	useStale            // serve stale now, refresh in the background (RFC 5861)
)

// usable decides how a stored entry may answer a request with directives
// cc at now (RFC 9111 §4, §4.2.4, §5.2.1; RFC 5861).
func (h *Handler) usable(e *cache.Entry, cc httpcache.RequestDirectives, now time.Time) use {
	age := e.Age(now)
	ttl := e.Lifetime - age
	ok := !e.NoCache && !cc.NoCache
	if ok && cc.HasMaxAge && age > cc.MaxAge {
		ok = false
	}
	if ok && cc.HasMinFresh && ttl < cc.MinFresh {
		ok = false
	}
	if ok && ttl <= 0 {
		// Stale: a client's max-stale allows it, never past
		// must-revalidate (§4.2.4, §5.2.2.2).
		if !e.MustRevalidate && (cc.MaxStaleAny || (cc.HasMaxStale && -ttl <= cc.MaxStale)) {
			return useFresh
		}
		// A client that asked for freshness bounds gets them.
		if -ttl < e.StaleWhileRevalidate && !cc.HasMaxAge && !cc.HasMinFresh {
			return useStale
		}
		return useNone
	}
	if ok {
		return useFresh
	}
	return useNone
}

// track feeds the rate tracker. Hits, the bulk of the traffic, are
// sampled (one in trackerSample, counted trackerSample times: Observe costs
// about a microsecond); other requests are all counted, so a key that is
// just starting to be requested is seen at once. Per-user keys are not
// tracked: the hot-key file would write their URLs to disk.
func (h *Handler) track(r *http.Request, key string, pol *policy.Policy, hit bool) {
	if h.tracker == nil || (pol != nil && pol.Scope == policy.ScopeUser) {
		return
	}
	if h.exts != nil && r.Context().Value(untrackedKey{}) != nil {
		return // an extension's subrequest no client could replay
	}
	if !hit {
		h.tracker.ObserveN(key, r.URL.RequestURI(), 1)
	} else if rand.Uint32()%trackerSample == 0 {
		h.tracker.ObserveN(key, r.URL.RequestURI(), trackerSample)
	}
}

// observe runs on hits: early and predictive refresh for routes that ask.
func (h *Handler) observe(r *http.Request, key string, e *cache.Entry, pol *policy.Policy, now time.Time) {
	if pol != nil && (pol.EarlyRefresh > 0 || pol.RefreshAhead) {
		h.refresher.maybeRefresh(r, key, e, pol, now)
	}
}

// lookup returns the entry for r under key, following a Vary marker to the
// variant for r's header values. It also returns the marker (or nil) and the
// Cache-Status fwd reason for a miss.
func (h *Handler) lookup(ctx context.Context, key string, r *http.Request, withL2 bool) (e, marker *cache.Entry, fwd string) {
	e, err := h.timedGet(ctx, key)
	if err != nil {
		h.tierFailed("get", key, err)
	}
	e = h.trusted(e)
	if e == nil && withL2 && h.l2 != nil {
		e = h.fromL2(ctx, key)
	}
	if e == nil || e.Key != key {
		return nil, nil, "uri-miss"
	}
	if !e.VaryMarker {
		return e, nil, ""
	}
	marker = e
	vkey := cachekey.Variant(variantBase(marker), marker.Vary, r.Header)
	v, err := h.tier.Get(ctx, vkey)
	if err != nil {
		h.tierFailed("get", vkey, err)
	}
	v = h.trusted(v)
	if v == nil && withL2 && h.l2 != nil {
		v = h.fromL2(ctx, vkey)
	}
	if v == nil || v.Key != vkey {
		return nil, marker, "vary-miss"
	}
	return v, marker, ""
}

// forwardUncached sends r to the origin without consulting or filling the
// cache; unsafe methods still invalidate (RFC 9111 §4.4).
func (h *Handler) forwardUncached(w http.ResponseWriter, r *http.Request, pol *policy.Policy, fwd, detail string) {
	p := &pass{fwd: fwd, detail: detail, in: r, pol: pol}
	h.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), passKey{}, p)))
}

// pass carries Cache-Status for an uncached forward to modifyResponse.
type pass struct {
	fwd, detail string
	in          *http.Request
	pol         *policy.Policy
	ranged      *rangeMiss // a range request that missed (see forwardRange)
}

// rangeMiss is what the background fetch after a range miss needs (a copy:
// a pointer to the request's cacheable would move it to the heap for
// every request).
type rangeMiss struct {
	r     *http.Request
	pol   *policy.Policy
	key   string
	stale *cache.Entry
	fwd   string
	pass  bool // a hit-for-miss marker: the whole response is not stored
}

// forwardRange sends a range request that found nothing to serve it to
// the origin as it is (a partial response is not stored: RFC 9111 §3.3
// allows a cache not to), and, when the origin's answer says the whole
// response fits the cache, fetches the whole response in the background
// (see rangeFill), so that the next ranges of it are hits.
func (h *Handler) forwardRange(w http.ResponseWriter, q rangeMiss) {
	p := &pass{fwd: cmp.Or(q.fwd, "miss"), detail: "partial", in: q.r, pol: q.pol, ranged: &q}
	h.proxy.ServeHTTP(w, q.r.WithContext(context.WithValue(q.r.Context(), passKey{}, p)))
}

// rangeFill starts the background fetch of the whole response a range
// request missed, if the origin's answer to the range tells its size (206
// with Content-Range, or a whole 200) and it is small enough to store.
func (h *Handler) rangeFill(p *pass, resp *http.Response) {
	if p.ranged.pass {
		return // its last whole answer was not storable (hit-for-miss)
	}
	view, _ := httpcache.TargetedView(resp.Header, h.targeted)
	if d := httpcache.ParseResponseDirectives(view); d.NoStore || d.Private {
		return
	}
	var size int64 = -1
	switch resp.StatusCode {
	case http.StatusPartialContent:
		if _, total, ok := strings.Cut(resp.Header.Get("Content-Range"), "/"); ok {
			if n, err := strconv.ParseInt(total, 10, 64); err == nil {
				size = n
			}
		}
	case http.StatusOK:
		size = resp.ContentLength
	}
	if size < 0 || size > h.maxObject {
		return
	}
	q := p.ranged
	h.refresher.trigger(q.r, q.key, q.stale, q.pol, causeRange)
}

type passKey struct{}

// policyTTL returns the route's TTL and whether it replaces the origin's
// freshness.
func policyTTL(p *policy.Policy) (time.Duration, bool) {
	if p == nil {
		return 0, false
	}
	return p.TTL, p.OverrideOrigin
}

// answerFailure answers a request coalesced on a fill whose origin request
// failed: with its own stale entry where stale-if-error allows (RFC 5861
// §4), else with the leader's answer (moat's 502/504 or the origin's 5xx),
// without asking the failing origin again.
func (h *Handler) answerFailure(w http.ResponseWriter, r *http.Request, pol *policy.Policy, stale, failure *cache.Entry, o *outcome) {
	now := h.now()
	if stale != nil && withinStaleIfError(stale, now) {
		o.result = ResultStale
		h.serveEntry(w, r, pol, stale, now, httpcache.Status{Fwd: "stale", Collapsed: true, Detail: "stale-if-error"}, "STALE")
		return
	}
	o.result = ResultMiss
	hdr := w.Header()
	for k, v := range failure.Header {
		hdr[k] = v
	}
	hdr["Content-Length"] = []string{strconv.Itoa(len(failure.Body))}
	st := httpcache.Status{Fwd: "miss", Collapsed: true, Detail: "origin-error"}
	if failure.NotStoredReason != "moat" {
		st.FwdStatus = failure.Status // the origin's status (moat's own 502/504 has none)
	}
	setStatus(hdr, h.name, st, xCacheMiss)
	w.WriteHeader(failure.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(failure.Body)
	}
}

// sharedAuth reports whether RFC 9111 §3.5 applies to r: it carries
// credentials, of any kind moat knows (the API-key header, a JWT's header,
// the trusted header), not Authorization alone, and its key is shared
// (no route, or a public route that allows credentials; a public route
// that does not sends such requests around the cache). A scoped key holds
// only its tier's or user's entries, so §3.5 does not apply to it.
func (h *Handler) sharedAuth(r *http.Request, pol *policy.Policy) bool {
	if pol != nil && (pol.Scope != policy.ScopePublic || !pol.AllowCredentials) {
		return false
	}
	return h.hasCredentials(r)
}

// tierFailed counts and logs a tier call that failed (a lookup that failed
// is a miss; a store that failed leaves nothing stored). An entry the tier
// refuses as too large is its policy, not a failure. Keys are logged as
// hashes: they hold URLs.
func (h *Handler) tierFailed(op, key string, err error) {
	if errors.Is(err, cache.ErrTooLarge) {
		h.log.Debug("cache tier refused an entry", "op", op, "key", keyHash(key), "err", err)
		return
	}
	h.stats.TierErrors.Add(1)
	h.log.Warn("cache tier failed", "op", op, "key", keyHash(key), "err", err)
}

// tierDelete removes key from the tier and L2, counting a failure.
func (h *Handler) tierDelete(ctx context.Context, key string) {
	h.l1Delete(ctx, key)
	h.deleteL2(key)
}

// l1Delete removes key from the tier (L1) alone, counting a failure.
func (h *Handler) l1Delete(ctx context.Context, key string) {
	if err := h.tier.Delete(ctx, key); err != nil {
		h.tierFailed("delete", key, err)
	}
}

// sameEntry reports whether a and b are the same stored response: by ID,
// which survives encoding (an entry read from a remote tier is a new
// pointer every time), never by pointer.
func sameEntry(a, b *cache.Entry) bool {
	return a != nil && b != nil && a.ID == b.ID && a.ID != 0
}

// trusted returns e, or nil if its fill started before the node stopped
// trusting what it held (see distrust): one atomic load on the hit path.
// The start of the fill (RequestTime), not its end, is what a purge must
// follow: a response that arrived after a purge may still predate it.
func (h *Handler) trusted(e *cache.Entry) *cache.Entry {
	// (An L1 copy promoted from L2 carries the filling node's clock less
	// the skew allowed: see promote.)
	if d := h.distrustBefore.Load(); d != 0 && e != nil && e.RequestTime.UnixNano() < d {
		return nil
	}
	return e
}

// requestDirectives are what r asks of the cache (RFC 9111 §5.2.1), or,
// where the operator chose to ignore clients' directives, only
// only-if-cached (which can only spare the origin).
func (h *Handler) requestDirectives(r *http.Request, pol *policy.Policy) httpcache.RequestDirectives {
	cc := httpcache.ParseRequestDirectives(r.Header)
	if (pol == nil && h.ignoreClientCC) || (pol != nil && pol.IgnoreClientCacheControl) {
		return httpcache.RequestDirectives{OnlyIfCached: cc.OnlyIfCached}
	}
	return cc
}
