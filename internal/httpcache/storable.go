package httpcache

import (
	"net/http"
	"time"
)

// StoreInput is what Storable needs to know about an exchange.
type StoreInput struct {
	Method              string // request method
	Status              int
	ReqDirectives       RequestDirectives
	RespDirectives      ResponseDirectives
	RespHeader          http.Header
	ReqHasAuthorization bool
	// HasFreshnessOverride reports that the operator's route policy gives
	// this response a TTL, so a response without explicit freshness or
	// validators is still storable when its status is heuristically
	// cacheable. For other statuses the policy must not override RFC 9111.
	HasFreshnessOverride bool
	HeuristicMax         time.Duration // cap for heuristic freshness; 0 turns heuristics off
	ResponseTime         time.Time
}

// Reasons returned by Storable. They are stable: logs, metrics and the
// Cache-Status detail parameter use them.
const (
	ReasonMethod        = "method"        // not GET
	ReasonNoStore       = "no-store"      // request or response no-store
	ReasonStatus        = "status"        // not final, 304, out of range, or must-understand with a status not understood
	ReasonPartial       = "partial"       // 206 or Content-Range: partial content is not stored
	ReasonPrivate       = "private"       // private, qualified or not
	ReasonAuthorization = "authorization" // request had Authorization and the response does not allow sharing it
	ReasonVaryStar      = "vary-star"     // Vary: *
	ReasonNoFreshness   = "no-freshness"  // nothing makes the response fresh or revalidatable
)

// Storable reports whether a shared cache may store the response (RFC 9111
// §3, §3.5, §5.2) and, when it may not, why (one of the Reason constants).
// It does not look at Set-Cookie: that is the caller's policy.
//
// A response is storable when the request is a GET without no-store, the
// status is final and not 206 or 304, there is no no-store, private or
// Vary: *, an Authorization request is explicitly shareable, and one of these
// holds: explicit freshness (s-maxage, max-age, Expires); public; a
// heuristically cacheable status with heuristics allowed (Last-Modified and
// HeuristicMax > 0); HasFreshnessOverride with a heuristically cacheable
// status; or no-cache together with a validator (ETag or Last-Modified), in
// which case every use is revalidated.
//
// This is narrower than RFC 9111 §3, which would store any heuristically
// cacheable response; storing one without freshness or validators gains
// nothing.
func Storable(in StoreInput) (ok bool, reason string) {
	d := in.RespDirectives
	h := in.RespHeader
	switch {
	case in.Method != http.MethodGet: // HEAD responses have no body to store
		return false, ReasonMethod
	case in.ReqDirectives.NoStore: // §5.2.1.5
		return false, ReasonNoStore
	case in.Status < 200 || in.Status > 599 || in.Status == http.StatusNotModified: // §3: final status
		return false, ReasonStatus
	case d.MustUnderstand && !understoodStatus(in.Status): // §5.2.2.3
		return false, ReasonStatus
	case in.Status == http.StatusPartialContent || len(h["Content-Range"]) > 0: // §3.3, not implemented
		return false, ReasonPartial
	case d.NoStore && !d.MustUnderstand: // §5.2.2.5; must-understand with an understood status overrides it, §5.2.2.3
		return false, ReasonNoStore
	case d.Private: // §5.2.2.7, a shared cache
		return false, ReasonPrivate
	case in.ReqHasAuthorization && !d.Public && !d.HasSMaxAge && !d.MustRevalidate: // §3.5
		return false, ReasonAuthorization
	case hasMember(h["Vary"], "*"): // §4.1: never matches a later request
		return false, ReasonVaryStar
	}
	if d.HasSMaxAge || d.HasMaxAge || len(h["Expires"]) > 0 || d.Public {
		return true, ""
	}
	if HeuristicallyCacheable(in.Status) {
		if in.HasFreshnessOverride {
			return true, ""
		}
		if _, ok := HeuristicFreshness(in.Status, h, d, in.ResponseTime, in.HeuristicMax); ok {
			return true, ""
		}
	}
	if d.NoCache && (len(h["Etag"]) > 0 || len(h["Last-Modified"]) > 0) {
		return true, ""
	}
	return false, ReasonNoFreshness
}

// understoodStatus reports whether moat implements the caching rules of
// status (RFC 9111 §5.2.2.3): the final codes RFC 9110 §15 defines, except
// 206, which it does not store, and 304, which only updates stored responses.
func understoodStatus(status int) bool {
	switch {
	case 200 <= status && status <= 205,
		300 <= status && status <= 303,
		307 <= status && status <= 308,
		400 <= status && status <= 417,
		421 <= status && status <= 422,
		status == 426,
		500 <= status && status <= 505:
		return true
	}
	return false
}
