package gateway

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// Write-through: a 2xx answer to a PUT or PATCH that carries the new state
// of its target (RFC 9110 §8.7: Content-Location equal to the target URI;
// or a route with WriteThrough) is stored as the entry for the GET of that
// URI, so that the next read is a hit with the new state instead of a
// miss.
//
// The order keeps purges sticky (generations, DESIGN invariant 5):
//
//  1. the write's own invalidation (RFC 9111 §4.4) runs first, as for any
//     write, and names the IDs of the entries about to replace what it
//     removes (Purge.Keep); with an L2 that applies purges, it waits until
//     L2 applied it;
//  2. the entry is then built for a GET made from the same normalized
//     request (route, key, scope, Vary and storability as a GET's fill
//     would have them), as a fill that started after that invalidation:
//     any GET fill that started before the write is refused when it
//     stores, here and on every node that heard the purge;
//  3. it is stored in L1 and written to L2 with cache.Replacer.Replace,
//     which the purge's own fence does not refuse; the other nodes vouch
//     for it (and only it) despite the purge they heard, because its ID is
//     in that purge's Keep list: counted from that purge on, any later
//     purge of it still wins.

// writeThroughPlan is a write whose answer will be stored for its GET.
type writeThroughPlan struct {
	get      *http.Request // the GET the entry answers
	pol      *policy.Policy
	entryID  uint64
	markerID uint64 // for a Vary marker the entry may need
	gen      uint64 // the generation the write's purge stamped
}

// planWriteThrough reports whether resp, the answer to the write in, is to
// be stored for the GET of in's URI, and what that GET is.
func (h *Handler) planWriteThrough(in *http.Request, writePol *policy.Policy, resp *http.Response) *writeThroughPlan {
	if in.Method != http.MethodPut && in.Method != http.MethodPatch {
		return nil
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNonAuthoritativeInfo:
		// 202 and the others describe the request, not the resource.
	default:
		return nil
	}
	if resp.ContentLength == 0 {
		return nil
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// The write passed with its client's Accept-Encoding: an encoded
		// answer would be stored as if it were not (a fill asks for what
		// moat decodes). moat encodes the identity one itself.
		return nil
	}
	if _, partial := resp.Header["Content-Range"]; partial {
		return nil
	}
	if (writePol == nil || !writePol.WriteThrough) && !contentLocationIsTarget(in, resp.Header.Get("Content-Location")) {
		return nil
	}
	get := in.Clone(in.Context())
	get.Method = http.MethodGet
	get.Body, get.ContentLength, get.GetBody = http.NoBody, 0, nil
	for _, k := range [...]string{"Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding",
		"Expect", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Range"} {
		delete(get.Header, k)
	}
	pol := h.policies.Match(get)
	if fwd, _ := h.bypassReason(get, pol); fwd != "" {
		return nil
	}
	return &writeThroughPlan{get: get, pol: pol, entryID: cache.NewEntryID(), markerID: cache.NewEntryID()}
}

// contentLocationIsTarget reports whether a Content-Location value names
// in's target URI (RFC 9110 §8.7), after resolving it against the target.
func contentLocationIsTarget(in *http.Request, loc string) bool {
	if loc == "" {
		return false
	}
	ref, err := url.Parse(loc)
	if err != nil {
		return false
	}
	target := targetURI(in)
	abs := target.ResolveReference(ref)
	return abs.Host == target.Host && abs.EscapedPath() == target.EscapedPath() && abs.RawQuery == target.RawQuery
}

// keepIDs are the entry IDs a plan's purge names in Purge.Keep.
func (wt *writeThroughPlan) keepIDs() []string {
	if wt == nil {
		return nil
	}
	return []string{strconv.FormatUint(wt.entryID, 16), strconv.FormatUint(wt.markerID, 16)}
}

// writeThrough stores resp's body, as it streams to the client, as the
// entry of wt's GET. Called after the write's invalidation returned.
func (h *Handler) writeThrough(ctx context.Context, wt *writeThroughPlan, resp *http.Response) {
	var q cacheable
	if _, bypass := h.lookupFor(wt.get, wt.pol, &q); bypass != "" {
		return
	}
	ctx = context.WithoutCancel(ctx)
	now := h.now()
	// The fill counts from the write's own purge: any purge after it (a
	// concurrent write's) overtakes it, here and in L2 (Replace's after).
	f := &fill{h: h, pol: wt.pol, key: q.key, base: q.base, reqCC: q.cc, auth: q.auth, in: q.r,
		store: !q.cc.NoStore, reqTime: now, started: time.Now(), gen: wt.gen, writeThrough: now}
	if m, _ := h.tier.Get(ctx, q.key); m != nil && m.VaryMarker && m.Key == q.key {
		f.primary = m
	}
	found := f.primary
	// entryFor reads the answer as the GET's: status 200, and a header of
	// its own (it adds the route's tag fields to what it is given).
	view := *resp
	view.StatusCode = http.StatusOK
	view.Header = resp.Header.Clone()
	e, reason := h.entryFor(&view, f, now)
	if e == nil {
		h.log.Debug("write-through not stored", "url", wt.get.URL.String(), "reason", reason)
		return
	}
	e.ID = wt.entryID
	if f.primary != nil && f.primary != found {
		f.primary.ID = wt.markerID // the marker entryFor made (or renewed) for it
	}
	if !h.fills.take(max(resp.ContentLength, 0)) {
		return
	}
	resp.Body = newFillBody(resp.Body, resp.ContentLength, h.maxObject, h.fills, h.originIdle, func() {},
		func(body []byte) bool {
			stored := h.commit(ctx, f, e, body)
			if stored {
				h.stats.WriteThroughs.Add(1)
			}
			return stored
		},
		func(string) {})
}

// keptEntries are the entry IDs that purges heard from other nodes named
// in Keep (write-throughs), with when this node applied each purge: such
// an entry is vouched for as if its fill had started just after that
// purge. A fixed ring: memory stays bounded whatever writes arrive.
type keptEntries struct {
	mu   sync.Mutex
	at   map[uint64]int64
	ring [4096]uint64
	next int
}

func (k *keptEntries) add(ids []string, at time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.at == nil {
		k.at = make(map[uint64]int64, len(k.ring))
	}
	for _, s := range ids {
		id, err := strconv.ParseUint(s, 16, 64)
		if err != nil || id == 0 {
			continue
		}
		if old := k.ring[k.next]; old != 0 {
			delete(k.at, old)
		}
		k.ring[k.next] = id
		k.at[id] = at.UnixNano()
		k.next = (k.next + 1) % len(k.ring)
	}
}

// since returns when the purge that named id was applied here, if one did.
func (k *keptEntries) since(id uint64) (time.Time, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	at, ok := k.at[id]
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}
