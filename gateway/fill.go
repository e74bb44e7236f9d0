package gateway

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/policy"
)

// fill is the state of one origin request made on behalf of the cache: a
// miss or the revalidation of a stale entry. It travels to modifyResponse
// in the request context.
type fill struct {
	h       *Handler
	pol     *policy.Policy
	key     string       // primary key, scope and dimensions included
	base    string       // key of the URL alone (for invalidation checks)
	primary *cache.Entry // Vary marker found under key, if any
	reqCC   httpcache.RequestDirectives
	auth    bool         // the request carries Authorization
	stale   *cache.Entry // stored entry that could not be served as is, if any
	// revalidate: the origin request carries stale's validators, and a 304
	// refreshes it.
	revalidate bool
	// fallback is served instead of an origin error (stale-if-error).
	fallback *cache.Entry
	// background: a refresh with no client waiting; the response is only
	// stored.
	background bool
	cause      string // what started a background refresh
	fwd        string // Cache-Status fwd reason for a miss
	detail     string // Cache-Status detail for a miss
	in         *http.Request
	store      bool // the response may be stored (request side)
	asGET      bool // a HEAD sent to the origin as GET
	reqTime    time.Time
	gen        uint64 // purge generation when the fill started
	// writeThrough (not zero): the answer to a write, stored for its GET
	// after the write's purge, done then (see writethrough.go); L2 gets it
	// with Replace, refused by later fences only.
	writeThrough time.Time
	started      time.Time // wall clock, for FetchTime: the injected clock may stand still

	result     Result        // how the client was answered
	originTime time.Duration // until the origin's response header

	call     *cache.Call // set when this request leads a coalesced miss
	stall    func()      // cancels the origin request (an origin that stalls mid-body)
	released sync.Once

	leaseMu sync.Mutex
	lease   func() // lets the fleet lease go (see Lease), until handed to the L2 write
}

type fillKey struct{}

func fillFrom(ctx context.Context) *fill {
	f, _ := ctx.Value(fillKey{}).(*fill)
	return f
}

// release wakes requests waiting on this fill. It is idempotent and is
// called as soon as the entry is stored, so waiters do not wait for a slow
// leading client to finish reading.
func (f *fill) release() {
	f.dropLease()
	if f.call == nil {
		return
	}
	f.released.Do(func() { f.h.group.Done(f.key, f.call) })
}

// fail hands the requests coalesced on this fill the answer to give
// instead of asking the failing origin again (see cache.Call.Fail). It must
// come before release.
func (f *fill) fail(e *cache.Entry) {
	if f.call != nil {
		f.released.Do(func() {
			f.call.Fail(e)
			f.h.group.Done(f.key, f.call)
		})
	}
}

// fetch forwards r to the origin for the cache, within the origin
// concurrency limits.
func (h *Handler) fetch(w http.ResponseWriter, r *http.Request, f *fill) {
	defer f.release()
	now := h.now()
	f.in = r
	f.store = !f.reqCC.NoStore
	if f.stale != nil {
		f.revalidate = f.store && f.stale.Validatable()
		if withinStaleIfError(f.stale, now) {
			f.fallback = f.stale
		}
	}
	if f.fwd == "" {
		f.fwd = "miss"
	}
	f.result = ResultMiss
	if h.extVariants[f.pol] == nil { // an extension takes its slots itself (Subrequests.Acquire)
		release, ok := h.limits.acquire(r.Context(), f.pol, f.background)
		if !ok {
			h.overloaded(w, r, f, now)
			return
		}
		defer release()
	}
	f.asGET = r.Method == http.MethodHead && f.store
	f.reqTime, f.started = h.now(), time.Now()
	f.gen = h.gens.current()
	if f.store && !f.background && httpcache.IsConditional(r.Header) {
		w = &conditionalWriter{ResponseWriter: w, req: r.Header}
	}
	ctx, cancel := context.WithCancel(context.WithValue(r.Context(), fillKey{}, f))
	defer cancel()
	f.stall = cancel
	h.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// maxSharedError is the largest origin error body handed to coalesced
// waiters.
const maxSharedError = 64 << 10

// sharedFailure is the origin's error answer as coalesced waiters get it:
// without what belongs to the leader alone (Set-Cookie, fields the origin
// marked private or no-cache) and, when the body is in a content-coding
// the waiters may not accept, with moat's own plain body instead.
func (h *Handler) sharedFailure(status int, hdr http.Header, body []byte) *cache.Entry {
	view, _ := httpcache.TargetedView(hdr, h.targeted)
	shared := h.storedHeader(hdr, httpcache.ParseResponseDirectives(view)) // what any stored answer keeps
	delete(shared, "Content-Length")                                       // the waiter's answer sets its own
	if _, coded := shared["Content-Encoding"]; coded {
		shared = originErrorHeader()
		body = []byte("moat: origin error\n")
	}
	return &cache.Entry{Status: status, Header: shared, Body: body}
}

// withinStaleIfError reports whether e may stand in for an origin error at
// now (RFC 5861 §4; the window is closed by must-revalidate, see
// freshness, and no-cache forbids it).
func withinStaleIfError(e *cache.Entry, now time.Time) bool {
	return !e.NoCache && e.StaleIfError > 0 && e.Staleness(now) <= e.StaleIfError
}

// overloaded answers a request the origin limits turned away: with a stale
// entry if there is any (even past its windows, unless must-revalidate or
// no-cache forbid it), else 503 with Retry-After.
func (h *Handler) overloaded(w http.ResponseWriter, r *http.Request, f *fill, now time.Time) {
	h.stats.Shed.Add(1)
	if f.background {
		return
	}
	if e := f.stale; e != nil && !e.MustRevalidate && !e.NoCache {
		f.result = ResultStale
		h.serveEntry(w, r, f.pol, e, now, httpcache.Status{Fwd: "stale", Detail: "origin-busy"}, "STALE")
		return
	}
	hdr := w.Header()
	hdr.Set("Retry-After", "1")
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	setStatus(hdr, h.name, httpcache.Status{Fwd: f.fwd, Detail: "origin-busy"}, xCacheMiss)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, "moat: origin busy, retry shortly\n")
}

// modifyResponse decides what the cache does with an origin response: a
// pass-through gets its Cache-Status (and invalidates after a write), a
// 304 to a revalidation refreshes the stored entry and answers with it, a
// storable response is captured while it streams to the client.
func (h *Handler) modifyResponse(resp *http.Response) error {
	ctx := resp.Request.Context()
	h.ensureDate(resp.Header)
	h.originInvalidation(ctx, resp)
	if p, ok := ctx.Value(passKey{}).(*pass); ok {
		if p.in != nil && invalidates(p.in.Method) {
			h.afterWrite(ctx, p, resp)
		}
		if p.ranged != nil {
			h.rangeFill(p, resp)
		}
		h.downstreamHeaders(resp.Header, p.pol)
		setStatus(resp.Header, h.name, httpcache.Status{Fwd: p.fwd, FwdStatus: resp.StatusCode, Detail: p.detail}, xCacheFor(p.fwd))
		return nil
	}
	f := fillFrom(ctx)
	if f == nil {
		return nil
	}
	defer h.downstreamHeaders(resp.Header, f.pol)
	now := h.now()
	f.originTime = time.Since(f.started)
	if f.revalidate && resp.StatusCode == http.StatusNotModified {
		return h.revalidated(resp, f, now)
	}
	if resp.StatusCode >= 500 && f.fallback != nil && !f.background {
		// RFC 5861 stale-if-error: the stored answer instead of the
		// origin's error. The error body is closed unread.
		f.result = ResultStale
		h.log.Warn("origin error, serving stale", "url", f.in.URL.String(), "status", resp.StatusCode)
		f.fail(&cache.Entry{Status: resp.StatusCode, Header: originErrorHeader(), Body: []byte("moat: origin error\n"), NotStoredReason: "origin-error"})
		resp.Body.Close()
		h.answerWith(resp, f.fallback, now, httpcache.Status{Fwd: "stale", FwdStatus: resp.StatusCode, Detail: "stale-if-error"}, xCacheStale)
		f.release()
		return nil
	}
	if f.background && resp.StatusCode >= 500 {
		// A refresh the origin failed: the stored entry stays as it was,
		// and the failure is counted and logged like a network error.
		h.stats.RefreshErrors.Add(1)
		h.log.Warn("background refresh failed", "cause", f.cause, "url", f.in.URL.String(), "status", resp.StatusCode)
	}
	e, reason := h.entryFor(resp, f, now)
	st := httpcache.Status{Fwd: f.fwd, FwdStatus: resp.StatusCode}
	if e == nil {
		st.Detail = reason
		if f.stale != nil && reason != "status" && reason != "request-no-store" {
			// The origin's new answer cannot be stored; the old one must
			// not outlive it.
			h.tierDelete(context.WithoutCancel(ctx), f.staleKey())
		}
		h.markHitForMiss(ctx, f, reason, now)
		setStatus(resp.Header, h.name, st, xCacheMiss)
		if reason == "status" && f.call != nil && !f.background {
			// A 5xx: the waiters get it too rather than each asking the
			// failing origin again (a short one; a longer body releases
			// them to try themselves).
			status := resp.StatusCode
			resp.Body = newCapture(resp.Body, resp.ContentLength, maxSharedError, func(b []byte) {
				f.fail(h.sharedFailure(status, resp.Header, b))
			})
		}
		return nil
	}
	if f.detail != "" {
		st.Detail = f.detail
	}
	if !h.fills.take(max(resp.ContentLength, 0)) {
		// Other fills hold all the memory fills may buffer: this answer
		// streams through unstored, and the waiters try for themselves.
		st.Detail = "fills-busy"
		setStatus(resp.Header, h.name, st, xCacheMiss)
		f.release()
		return nil
	}
	body := newFillBody(resp.Body, resp.ContentLength, h.maxObject, h.fills, h.originIdle, f.stall,
		func(body []byte) bool { return h.commit(ctx, f, e, body) },
		func(reason string) {
			if reason == "too-large" {
				h.stats.TooLarge.Add(1)
			}
			if reason != "" {
				h.markHitForMiss(ctx, f, reason, h.now())
			}
			f.release()
		})
	st.Stored = h.tags.Fits(e)
	if !st.Stored {
		st.Detail = "tag-index-full" // store refuses it too, and counts it
	}
	if resp.ContentLength < 0 || body.sync {
		// Of unknown length: the answer waits until the body is in or too
		// large (as nginx buffers), so Cache-Status says what happened,
		// unless it passes streamAfter: then it streams, and Cache-Status
		// cannot say yet whether it will be stored. A small body of known
		// length is in already (syncFill): Cache-Status says what
		// happened to it too.
		stored, known := body.wait()
		switch {
		case !known:
			st.Stored, st.Detail = false, "streamed"
		case !stored && body.over:
			st.Stored, st.Detail = false, "too-large"
			if body.busy {
				st.Detail = "fills-busy"
			}
		default:
			st.Stored = stored
		}
	}
	if st.Stored {
		st.TTL, st.HasTTL = int64(e.TTL(now)/time.Second), true
	}
	setStatus(resp.Header, h.name, st, xCacheMiss)
	resp.Body = body
	return nil
}

// markHitForMiss records that key's response was not storable, so that its
// next requests skip coalescing (see cache.Entry.HitForMiss). Only the
// leader of a coalesced fill marks, and only for reasons that come from the
// response itself: a request that bypassed for its own reasons
// (credentials, no-store) says nothing about the URL, a 5xx is transient,
// and a key holding a Vary marker keeps it (other variants live under it).
func (h *Handler) markHitForMiss(ctx context.Context, f *fill, reason string, now time.Time) {
	if h.hitForMiss < 0 || (f.call == nil && f.cause != CauseNames[causeRange]) || f.primary != nil {
		// (A range miss's background fill marks too: without the marker,
		// every range request of a response moat does not store would
		// fetch the whole of it again.)
		return
	}
	switch reason {
	case "request-no-store", "status", "":
		return
	}
	m := &cache.Entry{ID: cache.NewEntryID(), Key: f.key, HitForMiss: true, NotStoredReason: reason, RequestTime: now, ResponseTime: now, KeepUntil: now.Add(h.hitForMiss)}
	if f.pol != nil {
		m.Route = f.pol.Pattern
	}
	if err := h.tier.Set(context.WithoutCancel(ctx), f.key, m); err != nil {
		h.tierFailed("set", f.key, err)
	}
}

// staleKey is the key the stale entry was found under.
func (f *fill) staleKey() string {
	if f.stale != nil && f.stale.Key != "" {
		return f.stale.Key
	}
	return f.key
}

// entryFor returns the entry to store for resp (without its body), or nil
// and the reason it is not stored.
func (h *Handler) entryFor(resp *http.Response, f *fill, now time.Time) (*cache.Entry, string) {
	if !f.store {
		return nil, "request-no-store"
	}
	if resp.StatusCode >= 500 {
		return nil, "status"
	}
	// The directives aimed at moat (RFC 9213), else Cache-Control, decide;
	// the stored and forwarded header is the origin's.
	view, _ := httpcache.TargetedView(resp.Header, h.targeted)
	d := httpcache.ParseResponseDirectives(view)
	ttl, _ := policyTTL(f.pol)
	ok, reason := httpcache.Storable(httpcache.StoreInput{
		Method:               http.MethodGet,
		Status:               resp.StatusCode,
		ReqDirectives:        f.reqCC,
		RespDirectives:       d,
		RespHeader:           view,
		ReqHasAuthorization:  f.auth,
		HasFreshnessOverride: ttl > 0,
		HeuristicMax:         h.heuristicMax,
		ResponseTime:         now,
	})
	if !ok {
		return nil, reason
	}
	if _, has := resp.Header["Set-Cookie"]; has && (f.pol == nil || !f.pol.AllowSetCookie) {
		return nil, "set-cookie"
	}
	if resp.ContentLength > h.maxObject {
		h.stats.TooLarge.Add(1)
		return nil, "too-large"
	}
	fr := h.freshness(f.pol, resp.StatusCode, view, d, now)
	e := &cache.Entry{
		ID:           cache.NewEntryID(),
		Key:          f.key,
		Status:       resp.StatusCode,
		Header:       h.storedHeader(resp.Header, d),
		RequestTime:  f.reqTime,
		ResponseTime: now,
		InitialAge:   httpcache.InitialAge(resp.Header, f.reqTime, now),
		FetchTime:    time.Since(f.started),
		ETag:         resp.Header.Get("Etag"),
		LastModified: resp.Header.Get("Last-Modified"),
	}
	fr.apply(e)
	if f.pol != nil {
		e.Route = f.pol.Pattern
	}
	e.Tags = h.entryTags(resp.Header, f.pol, f.in.URL.EscapedPath())
	if h.tagsDown && len(e.Tags) > 0 {
		e.Header["Surrogate-Key"] = []string{strings.Join(e.Tags, " ")}
	}
	// The route's tag fields, for the CDN in front: on this answer and
	// on every hit of it.
	setTagFields(e.Header, f.pol, e.Tags)
	setTagFields(resp.Header, f.pol, e.Tags)
	vary := varyNames(resp.Header)
	if h.mix != nil {
		// Accept-Encoding is handled by the cache, never a key dimension.
		vary = slices.DeleteFunc(vary, func(n string) bool { return n == "Accept-Encoding" })
	}
	if len(vary) > 0 {
		marker := f.primary
		if marker == nil || !slices.Equal(marker.Vary, vary) {
			marker = &cache.Entry{ID: cache.NewEntryID(), RequestTime: f.reqTime, ResponseTime: now, Key: f.key, VaryMarker: true, Vary: vary, Route: e.Route, VaryEpoch: varyEpoch()}
		}
		f.primary = marker
		e.Key = cachekey.Variant(variantBase(marker), vary, f.in.Header)
		e.Vary = vary
	}
	if f.base != "" && e.Key != f.base {
		// A scoped or variant entry: found by its URL's tag when the URL
		// is invalidated, and vouched for by the URL's purges (see l2).
		e.Tags = append(e.Tags, urlTag(f.base))
	}
	e.KeepUntil = now.Add(keepFor(e))
	if f.primary != nil && f.primary.KeepUntil.Before(e.KeepUntil) {
		m := *f.primary
		m.KeepUntil = e.KeepUntil
		f.primary = &m
	}
	return e, ""
}

// keepFor is how long a tier keeps an entry: its remaining freshness, plus
// a while longer when it has validators, since a stale entry that the
// origin confirms with 304 saves sending the body again.
func keepFor(e *cache.Entry) time.Duration {
	d := e.Lifetime - e.InitialAge + max(e.StaleWhileRevalidate, e.StaleIfError)
	if e.Validatable() {
		d += min(max(e.Lifetime, 10*time.Minute), 24*time.Hour)
	}
	return max(d, time.Second)
}

// varyEpoch returns a new marker's epoch: random, never zero, so that two
// nodes (or one node before and after a restart) sharing a tier never give
// two markers of one key the same epoch, which a counter would.
func varyEpoch() uint64 {
	for {
		if e := rand.Uint64(); e != 0 {
			return e
		}
	}
}

// variantBase is the prefix of variant keys under a Vary marker. It carries
// the marker's epoch, so variants stored under an invalidated marker are
// never reachable from its successor.
func variantBase(marker *cache.Entry) string {
	return marker.Key + "\x00#" + strconv.FormatUint(marker.VaryEpoch, 36)
}

// commit stores the captured response; it runs when the origin's body has
// been read to its end.
func (h *Handler) commit(ctx context.Context, f *fill, e *cache.Entry, body []byte) (stored bool) {
	ctx = context.WithoutCancel(ctx) // the store must not fail because the client left
	e.Body = body
	h.encodeEntry(e, httpcache.ParseResponseDirectives(e.Header))
	e.Header["Content-Length"] = []string{strconv.Itoa(len(e.Body))}
	if stored = h.store(ctx, f, e); stored {
		h.stats.Stored.Add(1)
	}
	if stored && len(e.Vary) > 0 && f.primary != nil {
		// The marker after its variant, under the same purge check: a
		// fill overtaken by a purge of its URL must not put back the
		// marker the purge removed.
		m := f.primary
		if h.keep(ctx, f.key, m, func() bool { return f.overtaken(nil, m.Route) }) == nil {
			h.toL2op(l2op{key: f.key, e: m, done: f.handOffLease(), replaceAfter: f.writeThrough}) // the other nodes find marker and variant
		}
	}
	f.release()
	return stored
}

// store indexes e by its tags, stores it, and removes it again if a purge
// overtook the fill (see generations). It reports whether e was kept. An
// entry the tag index cannot hold is not stored (a tag purge would miss
// it), and whatever the key held before goes too.
func (h *Handler) store(ctx context.Context, f *fill, e *cache.Entry) bool {
	err := h.keep(ctx, e.Key, e, func() bool { return f.overtaken(e.Tags, e.Route) })
	switch {
	case errors.Is(err, cache.ErrIndexFull):
		h.stats.IndexFull.Add(1)
		h.log.Warn("tag index full: response not stored", "key", keyHash(e.Key))
		h.tierDelete(ctx, e.Key)
	case errors.Is(err, errOvertaken):
		h.stats.PurgedFills.Add(1)
	case err == nil:
		var done func()
		if len(e.Vary) == 0 || f.primary == nil {
			// The lease goes with the last L2 write of the fill: this one,
			// or its Vary marker's (see commit).
			done = f.handOffLease()
		}
		h.toL2op(l2op{key: e.Key, e: e, done: done, replaceAfter: f.writeThrough}) // queued: sent after the answer, off the request path
	}
	return err == nil
}

// errOvertaken says a purge overtook an entry while it was being stored.
var errOvertaken = errors.New("gateway: purged while being stored")

// keep indexes e by its tags and stores it under key in L1; then, stored
// first and checked after (see generations), it asks purged whether a
// purge overtook it and removes it if so. Fills and promotions from L2
// both store through it. The error says why e was not kept:
// cache.ErrIndexFull, errOvertaken or the tier's own.
func (h *Handler) keep(ctx context.Context, key string, e *cache.Entry, purged func() bool) error {
	if err := h.tags.Add(key, e); err != nil {
		return err
	}
	if err := h.tier.Set(ctx, key, e); err != nil {
		h.tierFailed("set", key, err)
		h.tags.Remove(key, e)
		return err
	}
	if purged() {
		h.tierDelete(ctx, key)
		return errOvertaken
	}
	return nil
}

// overtaken reports whether a purge of the fill's URL, of its path (by
// prefix), of one of tags, of route or of all came after the fill started.
func (f *fill) overtaken(tags []string, route string) bool {
	return f.h.gens.purgedSince(f.gen, cmp.Or(f.base, f.key), f.in.URL.EscapedPath(), scopeTags(tags, route))
}

// revalidated handles a 304 to a revalidation (RFC 9111 §4.3.3, §4.3.4):
// the stored header is updated from the 304, the entry is stored again with
// new freshness, and the client is answered from it.
func (h *Handler) revalidated(resp *http.Response, f *fill, now time.Time) error {
	ctx := context.WithoutCancel(resp.Request.Context())
	e := f.stale.Clone()
	e.ID = cache.NewEntryID() // a new version of the response
	for k, v := range resp.Header {
		switch k {
		case "Content-Length", "Content-Encoding", "Content-Range", "Transfer-Encoding", "Cache-Status":
			continue
		}
		if h.neverStored(k) { // a cookie set for the revalidating client must not reach every later hit
			continue
		}
		e.Header[k] = v[:len(v):len(v)]
	}
	if e.Coding != "" {
		weakenETag(e.Header) // the 304 may restate the origin's strong ETag
		e.Header["Content-Encoding"] = []string{e.Coding}
	}
	view, _ := httpcache.TargetedView(e.Header, h.targeted)
	d := httpcache.ParseResponseDirectives(view)
	dropQualifiedFields(e.Header, d)
	e.RequestTime, e.ResponseTime = f.reqTime, now
	e.InitialAge = httpcache.InitialAge(resp.Header, f.reqTime, now)
	e.FetchTime = time.Since(f.started)
	h.freshness(f.pol, e.Status, view, d, now).apply(e)
	if et := resp.Header.Get("Etag"); et != "" {
		e.ETag = et
	}
	if lm := resp.Header.Get("Last-Modified"); lm != "" {
		e.LastModified = lm
	}
	e.KeepUntil = now.Add(keepFor(e))
	st := httpcache.Status{Fwd: "stale", FwdStatus: http.StatusNotModified}
	if d.NoStore || d.Private {
		h.tierDelete(ctx, e.Key)
		st.Detail = "no-store"
	} else if h.store(ctx, f, e) {
		h.stats.Revalidated.Add(1)
		f.result = ResultRevalidated
		st.Stored = true
		st.TTL, st.HasTTL = int64(e.TTL(now)/time.Second), true
	}
	f.release()
	resp.Body.Close()
	cookies := resp.Header["Set-Cookie"]
	h.answerWith(resp, e, now, st, xCacheHit)
	if len(cookies) > 0 {
		resp.Header["Set-Cookie"] = cookies // the revalidating client's own, as a 200's would be
	}
	return nil
}

// answerWith replaces an origin response with a stored entry, so that
// ReverseProxy writes the entry to the client.
func (h *Handler) answerWith(resp *http.Response, e *cache.Entry, now time.Time, st httpcache.Status, xcache []string) {
	hdr := make(http.Header, len(e.Header)+3)
	for k, v := range e.Header {
		hdr[k] = v
	}
	body := e.Body
	if f := fillFrom(resp.Request.Context()); f != nil && f.in != nil && !acceptsStored(f.in, e) {
		if b, ok := decodedBody(e); ok {
			body = b
			delete(hdr, "Content-Encoding")
			hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
		}
	}
	hdr["Age"] = ageValue(e.Age(now))
	if !st.HasTTL {
		st.TTL, st.HasTTL = int64(e.TTL(now)/time.Second), true
	}
	setStatus(hdr, h.name, st, xcache)
	resp.StatusCode = e.Status
	resp.Status = strconv.Itoa(e.Status) + " " + http.StatusText(e.Status)
	resp.Header = hdr
	resp.ContentLength = int64(len(body))
	resp.Body = io.NopCloser(bytes.NewReader(body))
}

// afterWrite invalidates what a write's answer made wrong: RFC 9111 §4.4
// and the route's write-path rules; and stores the answer for its GET if
// it is the target's new state (write-through). A write-through's purge
// is one, with the rules' tags: its entry counts from it, and a purge
// after it would remove the entry.
func (h *Handler) afterWrite(ctx context.Context, p *pass, resp *http.Response) {
	var tags []string
	if p.pol != nil && len(p.pol.Invalidate) > 0 && resp.StatusCode >= 200 && resp.StatusCode < 300 {
		// Write-path rules: the route names the tags this write made wrong.
		tags = p.pol.Expand(p.pol.Invalidate, p.in.URL.EscapedPath())
	}
	if wt := h.planWriteThrough(p.in, p.pol, resp); wt != nil {
		res, err := h.invalidateAfterWrite(ctx, p.in, resp, wt.keepIDs(), tags)
		if err != nil {
			// Not applied to L2 in time: its entry could land before the
			// purge. No write-through then; the next GET fills.
			h.log.Warn("write-through skipped: the write's invalidation did not complete", "url", p.in.URL.String(), "err", err)
			return
		}
		wt.gen = res.gen
		h.writeThrough(ctx, wt, resp)
		return
	}
	if _, err := h.invalidateAfterWrite(ctx, p.in, resp, nil, nil); err != nil {
		h.log.Warn("RFC 9111 §4.4 invalidation failed", "url", p.in.URL.String(), "err", err)
	}
	if len(tags) > 0 {
		if _, err := h.purge(ctx, Purge{Tags: tags}, PurgeWrite); err != nil {
			h.log.Warn("write-path invalidation failed", "route", p.pol.Pattern, "err", err)
		}
	}
}

// errNoTargets says a write's answer named nothing to invalidate.
var errNoTargets = errors.New("gateway: nothing to invalidate")

// invalidateAfterWrite removes the stored responses a successful unsafe
// request made stale (RFC 9111 §4.4), and the entries of tags.
//
// keep are the IDs of the entries a write-through is about to store in
// place of what the purge removes (see writethrough.go).
func (h *Handler) invalidateAfterWrite(ctx context.Context, in *http.Request, resp *http.Response, keep, tags []string) (PurgeResult, error) {
	target := targetURI(in)
	targets := httpcache.InvalidationTargets(in.Method, resp.StatusCode, target, resp.Header)
	if len(targets) == 0 {
		return PurgeResult{}, errNoTargets
	}
	// The one invalidation path: stamped, applied, counted and handed to
	// OnPurge (the other nodes and layers) like any purge.
	p := Purge{Keep: keep, Tags: tags}
	for _, u := range targets {
		if u.Host != "" {
			p.URLs = append(p.URLs, u.String())
		}
	}
	if len(p.URLs) == 0 {
		return PurgeResult{}, errNoTargets
	}
	return h.purge(ctx, p, PurgeRFC)
}

// targetURI is a request's target URI in absolute form (RFC 9110 §7.1), as
// invalidations name it.
func targetURI(in *http.Request) *url.URL {
	scheme := "http"
	if in.TLS != nil {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: in.Host, Path: in.URL.Path, RawPath: in.URL.RawPath, RawQuery: in.URL.RawQuery}
}

// ensureDate adds Date to a response that lacks one (RFC 9110 §6.6.1).
func (h *Handler) ensureDate(hdr http.Header) {
	if _, ok := hdr["Date"]; !ok {
		hdr["Date"] = []string{h.now().UTC().Format(http.TimeFormat)}
	}
}

// storedHeader copies the response header fields worth storing: without
// Set-Cookie, fields named by qualified no-cache/private (RFC 9111
// §5.2.2.4, §5.2.2.7), Age (recomputed on every hit), other caches' status
// fields and the tag fields (kept in Entry.Tags). Value slices are clipped
// to len == cap.
func (h *Handler) storedHeader(src http.Header, d httpcache.ResponseDirectives) http.Header {
	dst := make(http.Header, len(src))
	n := 0
	for _, v := range src {
		n += len(v)
	}
	vals := make([]string, 0, n) // one array for all values, as Header.Clone
	for k, v := range src {
		if h.neverStored(k) {
			continue
		}
		vals = append(vals, v...)
		dst[k] = vals[len(vals)-len(v) : len(vals) : len(vals)]
	}
	dropQualifiedFields(dst, d)
	return dst
}

// neverStored reports whether an origin's field k stays out of every
// stored header, from a fill or a 304: one client's cookie, hop fields of
// the cache's own, what is kept in Entry.Tags, what is aimed at moat.
func (h *Handler) neverStored(k string) bool {
	switch k {
	case "Set-Cookie", "Age", "X-Cache", "X-Moat-Invalidate", ExtensionTagsHeader:
		return true
	}
	return h.isTagHeader(k) || slices.Contains(h.targetedOwn, k)
}

// dropQualifiedFields removes the fields a response's no-cache="..." and
// private="..." name from what is stored (RFC 9111 §5.2.2.4, §5.2.2.7).
func dropQualifiedFields(hdr http.Header, d httpcache.ResponseDirectives) {
	for _, k := range d.NoCacheFields {
		delete(hdr, http.CanonicalHeaderKey(k))
	}
	for _, k := range d.PrivateFields {
		delete(hdr, http.CanonicalHeaderKey(k))
	}
}

// varyNames returns the canonical field names of the response's Vary.
func varyNames(h http.Header) []string {
	var names []string
	for _, line := range h["Vary"] {
		for _, n := range strings.Split(line, ",") {
			n = http.CanonicalHeaderKey(strings.TrimSpace(n))
			if n == "" || slices.Contains(names, n) {
				continue
			}
			names = append(names, n)
		}
	}
	return names
}
