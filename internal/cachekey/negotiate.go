package cachekey

import (
	"slices"
	"strings"
)

// Content negotiation reduces a varied request header to the one
// representation the route will serve, so that the many spellings of a
// preference share one key: "de-DE,de;q=0.9" and "de" both become "de".
//
// WARNING: the origin must receive the reduced value too (Accept-Language:
// de), or the stored response answers the client's own header, which the
// key does not describe.

// weighted is one element of an Accept-style list: a range and its weight
// in thousandths (RFC 9110 §12.4.2).
type weighted struct {
	value string
	q     int
}

// parseWeighted appends the valid elements of a comma-separated list with
// optional ";q=" weights to dst, keeping each element's range (the text
// before the first ';', trimmed) if valid(range) holds. Elements with an
// invalid range or weight are skipped, as RFC 9110 §5.6.1 lets a recipient
// ignore them.
func parseWeighted(dst []weighted, list string, valid func(string) bool) []weighted {
	for list != "" {
		var elem string
		elem, list, _ = strings.Cut(list, ",")
		value, params, _ := strings.Cut(elem, ";")
		value = trimOWS(value)
		if value == "" || !valid(value) {
			continue
		}
		q, ok := 1000, true
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			name, v, _ := strings.Cut(trimOWS(p), "=")
			if strings.EqualFold(trimOWS(name), "q") {
				q, ok = parseQ(trimOWS(v))
				break // accept-ext parameters after q are ignored
			}
		}
		if ok {
			dst = append(dst, weighted{value, q})
		}
	}
	return dst
}

// parseQ parses a qvalue ("0", "0.5", "1.000"; RFC 9110 §12.4.2) into
// thousandths.
func parseQ(s string) (int, bool) {
	if s == "" || s[0] != '0' && s[0] != '1' {
		return 0, false
	}
	q := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' || len(s) > 5 {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		q += int(s[i]-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}

func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// byWeight sorts a list by weight, highest first, keeping list order among
// equal weights.
func byWeight(list []weighted) {
	slices.SortStableFunc(list, func(a, b weighted) int { return b.q - a.q })
}

// Language returns the member of supported that best answers an
// Accept-Language header (RFC 9110 §12.5.4), or "" when none is acceptable,
// meaning the route's default variant (forward the request without
// Accept-Language, so that the origin picks its default).
//
// Ranges are tried by weight, highest first, and in header order among
// equal weights, as RFC 4647 §2.3 orders a priority list. For each range,
// matching is case-insensitive and tries, in turn:
//   - the range itself ("de-CH" → "de-CH");
//   - RFC 4647 §3.4 lookup, truncating the range ("de-CH" → "de");
//   - RFC 4647 §3.3.1 basic filtering, the first supported tag that the
//     range is a prefix of ("de" → "de-AT");
//   - for "*", the first supported tag.
//
// A range with q=0 excludes the tags it matches by basic filtering from
// the last three steps, so "*, de;q=0" never chooses "de" or "de-AT".
// An empty header, or one with no valid range, accepts any language (RFC
// 9110 §12.5.4) and so is "*": the first supported tag. Ranges that are not
// RFC 4647 §2.1 language ranges ("en_US") are ignored. The result is the
// supported entry as written, so it can name the variant directly.
//
// Equivalent headers, differing in case, whitespace, the spelling of q or
// ranges that cannot match, give the same result.
func Language(acceptLanguage string, supported []string) string {
	if len(supported) == 0 {
		return ""
	}
	var stack [16]weighted
	ranges := parseWeighted(stack[:0], acceptLanguage, isLanguageRange)
	if len(ranges) == 0 {
		return supported[0]
	}
	byWeight(ranges)
	excluded := func(tag string) bool {
		for _, r := range ranges {
			if r.q == 0 && r.value != "*" && filterMatch(r.value, tag) {
				return true
			}
		}
		return false
	}
	for _, r := range ranges {
		if r.q == 0 {
			break
		}
		if r.value == "*" {
			for _, tag := range supported {
				if !excluded(tag) {
					return tag
				}
			}
			continue
		}
		for _, tag := range supported {
			if strings.EqualFold(tag, r.value) {
				return tag
			}
		}
		for prefix := truncateRange(r.value); prefix != ""; prefix = truncateRange(prefix) {
			for _, tag := range supported {
				if strings.EqualFold(tag, prefix) && !excluded(tag) {
					return tag
				}
			}
		}
		for _, tag := range supported {
			if filterMatch(r.value, tag) && !excluded(tag) {
				return tag
			}
		}
	}
	return ""
}

// isLanguageRange reports whether s is "*" or 1*8ALPHA *("-" 1*8alphanum)
// (RFC 4647 §2.1).
func isLanguageRange(s string) bool {
	if s == "*" {
		return true
	}
	for first := true; ; first = false {
		sub, rest, more := strings.Cut(s, "-")
		if len(sub) == 0 || len(sub) > 8 {
			return false
		}
		for i := 0; i < len(sub); i++ {
			c := sub[i]
			if !('a' <= c|0x20 && c|0x20 <= 'z' || !first && '0' <= c && c <= '9') {
				return false
			}
		}
		if !more {
			return true
		}
		s = rest
	}
}

// truncateRange removes the last subtag of a language range, and a
// single-character subtag (an extension or private-use singleton) left
// before it (RFC 4647 §3.4).
func truncateRange(r string) string {
	i := strings.LastIndexByte(r, '-')
	if i < 0 {
		return ""
	}
	r = r[:i]
	if j := strings.LastIndexByte(r, '-'); j >= 0 && j == len(r)-2 {
		r = r[:j]
	}
	return r
}

// filterMatch reports whether tag matches language range r by RFC 4647
// §3.3.1 basic filtering: equal to it, or starting with it and a '-'.
func filterMatch(r, tag string) bool {
	return len(tag) >= len(r) && strings.EqualFold(tag[:len(r)], r) && (len(tag) == len(r) || tag[len(r)] == '-')
}

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
	if !ok || !isToken(typ) || !isToken(sub) {
		return false
	}
	return typ != "*" || sub == "*"
}

// splitMediaType returns the type and subtype of a supported media type,
// ignoring parameters.
func splitMediaType(s string) (typ, sub string, ok bool) {
	s, _, _ = strings.Cut(s, ";")
	typ, sub, ok = strings.Cut(trimOWS(s), "/")
	return typ, sub, ok && isToken(typ) && isToken(sub) && typ != "*" && sub != "*"
}

// isToken reports whether s is a token (RFC 9110 §5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c|0x20 && c|0x20 <= 'z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// HeaderValue normalizes the value of a varied header that has no
// negotiation of its own: ASCII letters lower-cased, leading and trailing
// whitespace removed, and whitespace around commas removed, so "Gzip, BR"
// and "gzip,br" are one value. Join multiple field lines with "," first.
// Other bytes are kept, so distinct values stay distinct. It does not
// allocate when v is already normal.
func HeaderValue(v string) string {
	v = trimOWS(v)
	if isNormalHeaderValue(v) {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == ',':
			for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
				b = b[:len(b)-1]
			}
			b = append(b, ',')
			for i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				i++
			}
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isNormalHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'A' <= c && c <= 'Z':
			return false
		case c == ',':
			if i > 0 && (v[i-1] == ' ' || v[i-1] == '\t') || i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				return false
			}
		}
	}
	return true
}
