package cachekey

import (
	"slices"
	"strings"
)

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
	// excluded[i]: a q=0 range matches supported[i]. Computed once, so the
	// work stays O(ranges × supported) however long the header is.
	var excludedStack [16]bool
	excluded := excludedStack[:0]
	if len(supported) > len(excludedStack) {
		excluded = make([]bool, len(supported))
	} else {
		excluded = excludedStack[:len(supported)]
	}
	for _, r := range ranges {
		if r.q == 0 && r.value != "*" {
			for i, tag := range supported {
				excluded[i] = excluded[i] || filterMatch(r.value, tag)
			}
		}
	}
	for _, r := range ranges {
		if r.q == 0 {
			break
		}
		if r.value == "*" {
			for i, tag := range supported {
				if !excluded[i] {
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
			for i, tag := range supported {
				if strings.EqualFold(tag, prefix) && !excluded[i] {
					return tag
				}
			}
		}
		for i, tag := range supported {
			if filterMatch(r.value, tag) && !excluded[i] {
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

// byWeight sorts a list by weight, highest first, keeping list order among
// equal weights.
func byWeight(list []weighted) {
	slices.SortStableFunc(list, func(a, b weighted) int { return b.q - a.q })
}
