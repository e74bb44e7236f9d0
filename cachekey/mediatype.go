package cachekey

import (
	"strings"

	"github.com/moatproxy/moat/internal/httpcache"
)

// MediaType returns the member of supported that best answers an Accept
// header (RFC 9110 §12.5.1), or "" when none is acceptable.
//
// Each supported type takes the weight of the most specific range that
// matches it ("text/html" over "text/*" over "*/*"; the highest weight
// among equally specific ones); the heaviest wins, then the one matched
// by the more specific range, then the first in supported. So
// "application/json, */*" chooses application/json even when text/html
// is listed first. Media type parameters other than q are ignored, in the
// header and in supported. An empty header, or one with no valid range,
// accepts anything and so chooses supported[0]. Matching ignores case, and
// the result is the supported entry as written.
func MediaType(accept string, supported []string) string {
	if len(supported) == 0 {
		return ""
	}
	var stack [16]weighted
	ranges := parseWeighted(stack[:0], accept, isMediaRange)
	if len(ranges) == 0 {
		return supported[0]
	}
	best, bestQ, bestSpec := "", 0, -1
	for _, s := range supported {
		typ, sub, ok := splitMediaType(s)
		if !ok {
			continue
		}
		q, spec := 0, -1
		for _, r := range ranges {
			rt, rs, _ := strings.Cut(r.value, "/")
			var rSpec int
			switch {
			case rt == "*":
				rSpec = 0
			case !strings.EqualFold(rt, typ):
				continue
			case rs == "*":
				rSpec = 1
			case strings.EqualFold(rs, sub):
				rSpec = 2
			default:
				continue
			}
			if rSpec > spec || rSpec == spec && r.q > q {
				q, spec = r.q, rSpec
			}
		}
		if q > bestQ || q == bestQ && q > 0 && spec > bestSpec {
			best, bestQ, bestSpec = s, q, spec
		}
	}
	return best
}

// isMediaRange reports whether s is "*/*", "type/*" or "type/subtype"
// with token type and subtype (RFC 9110 §12.5.1).
func isMediaRange(s string) bool {
	typ, sub, ok := strings.Cut(s, "/")
	if !ok || !httpcache.IsToken(typ) || !httpcache.IsToken(sub) {
		return false
	}
	return typ != "*" || sub == "*"
}

// splitMediaType returns the type and subtype of a supported media type,
// ignoring parameters.
func splitMediaType(s string) (typ, sub string, ok bool) {
	s, _, _ = strings.Cut(s, ";")
	typ, sub, ok = strings.Cut(httpcache.TrimOWS(s), "/")
	return typ, sub, ok && httpcache.IsToken(typ) && httpcache.IsToken(sub) && typ != "*" && sub != "*"
}
