package cachekey

import (
	"slices"
	"strings"
)

// A query is a list of '&'-separated parameters, each a name with an
// optional "=value". ';' is not a separator (net/url has rejected it since
// Go 1.17). Empty parameters ("a=1&&b=2", a lone "?") mean nothing to any
// server and are dropped. "flag" and "flag=" stay distinct: some servers
// tell them apart.

// normalizeQuery returns the canonical form of raw under the global rules
// and r (nil for none). It does not allocate when raw is already
// canonical, which is the common case once clients and links settle.
func (n *Normalizer) normalizeQuery(raw string, r *ParamRules) string {
	if raw == "" || n.isCanonicalQuery(raw, r) {
		return raw
	}
	return n.rebuildQuery(raw, r)
}

// isCanonicalQuery reports whether normalizeQuery would return raw as it
// is, answering false when in doubt (the slow path then decides). It is
// the hit path, so it checks the escapes and splits the parameters in one
// pass.
func (n *Normalizer) isCanonicalQuery(raw string, r *ParamRules) bool {
	var prevName, prevRest string
	start, eq := 0, -1
	for i := 0; i <= len(raw); i++ {
		if i < len(raw) {
			c := raw[i]
			if byteClass[c]&unreserved != 0 {
				continue
			}
			switch {
			case c == '=':
				if eq < 0 {
					eq = i
				}
				continue
			case c == '%':
				if !isCanonicalEscape(raw, i) {
					return false
				}
				i += 2
				continue
			case c == '+' || !inQuery.allows(c):
				return false
			case c != '&':
				continue
			}
		}
		if i == start {
			return false // an empty parameter
		}
		seg := raw[start:i]
		name, rest := seg, ""
		if eq >= 0 {
			name, rest = raw[start:eq], raw[eq:i]
		}
		keep, def := n.classify(name, r)
		if !keep || def >= 0 && eq >= 0 && decodedEquals(rest[1:], r.defaultValues[def]) {
			return false
		}
		if n.sortQuery && start > 0 {
			c := strings.Compare(prevName, name)
			if c > 0 || c == 0 && !n.keepValueOrder && prevRest > rest {
				return false
			}
		}
		prevName, prevRest = name, rest
		start, eq = i+1, -1
	}
	return true
}

// param is one canonical parameter of a rebuilt query.
type param struct {
	seg     string // "name" or "name=value"
	def     int    // index of the parameter's default in ParamRules, or -1
	isDflt  bool   // the value equals that default
	dropped bool
}

// rebuildQuery is the slow path of normalizeQuery.
func (n *Normalizer) rebuildQuery(raw string, r *ParamRules) string {
	buf := make([]byte, 0, len(raw)+len(raw)/4)
	for s, more := raw, true; more; {
		var seg string
		seg, s, more = strings.Cut(s, "&")
		if seg == "" {
			continue
		}
		if len(buf) > 0 {
			buf = append(buf, '&')
		}
		buf = canonicalize(buf, seg, inQuery)
	}
	// All later slicing is of one string, so parameters cost no allocation.
	canon := string(buf)

	var stack [16]param
	params := stack[:0]
	var countStack [16]int
	var counts []int // occurrences of each name that has a default
	if r != nil && len(r.defaultValues) > len(countStack) {
		counts = make([]int, len(r.defaultValues))
	} else if r != nil {
		counts = countStack[:len(r.defaultValues)]
	}
	dropped := false
	for s, more := canon, canon != ""; more; {
		var seg string
		seg, s, more = strings.Cut(s, "&")
		name, value, hasValue := strings.Cut(seg, "=")
		keep, def := n.classify(name, r)
		if !keep {
			dropped = true
			continue
		}
		p := param{seg: seg, def: def}
		if def >= 0 {
			counts[def]++
			p.isDflt = hasValue && decodedEquals(value, r.defaultValues[def])
		}
		params = append(params, p)
	}
	// A default is removed only when its parameter is given once: from
	// "page=1&page=2" the origin may read either value.
	for i := range params {
		if p := &params[i]; p.isDflt && counts[p.def] == 1 {
			p.dropped, dropped = true, true
		}
	}
	params = slices.DeleteFunc(params, func(p param) bool { return p.dropped })

	sorted := false
	if n.sortQuery {
		byValue := !n.keepValueOrder
		cmp := func(a, b param) int { return compareParams(a.seg, b.seg, byValue) }
		if !slices.IsSortedFunc(params, cmp) {
			slices.SortStableFunc(params, cmp)
			sorted = true
		}
	}
	if !dropped && !sorted {
		return canon
	}
	size := 0
	for _, p := range params {
		size += len(p.seg) + 1
	}
	var b strings.Builder
	b.Grow(size)
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.seg)
	}
	return b.String()
}

// classify decides the fate of the parameter named name (canonical,
// still escaped): whether it is kept, and the index of its default in r,
// or -1. Names are matched decoded; tracking and strip patterns ignore
// ASCII case, allow and defaults do not.
func (n *Normalizer) classify(name string, r *ParamRules) (keep bool, def int) {
	var decodedBuf, lowerBuf [64]byte
	var decoded []byte
	if strings.IndexByte(name, '%') < 0 {
		decoded = append(decodedBuf[:0], name...)
	} else {
		decoded = appendDecoded(decodedBuf[:0], name)
	}
	def = -1
	if r != nil {
		def = r.defaultNames.find(decoded)
		if r.allow.len() > 0 {
			// An allowed name is exempt from tracking patterns, and
			// CompileParams has checked that no strip pattern matches it.
			return r.allow.find(decoded) >= 0, def
		}
	}
	stripRoute := r != nil && !r.strip.empty()
	if len(decoded) > 0 {
		c := lowerByte(decoded[0])
		if !n.tracking.first.has(c) && !(stripRoute && r.strip.first.has(c)) {
			return true, def // the common case: no pattern starts with c
		}
	}
	lower := appendLower(lowerBuf[:0], decoded)
	if n.tracking.match(lower) || stripRoute && r.strip.match(lower) {
		return false, -1
	}
	return true, def
}

// compareParams orders canonical parameters by name, then, if byValue, by
// the rest ("" before "=" before "=x", so "flag" sorts before "flag=").
func compareParams(a, b string, byValue bool) int {
	an, bn := paramName(a), paramName(b)
	if c := strings.Compare(an, bn); c != 0 || !byValue {
		return c
	}
	return strings.Compare(a[len(an):], b[len(bn):])
}

func paramName(seg string) string {
	if i := strings.IndexByte(seg, '='); i >= 0 {
		return seg[:i]
	}
	return seg
}

func appendLower(dst, s []byte) []byte {
	for _, c := range s {
		dst = append(dst, lowerByte(c))
	}
	return dst
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		c += 'a' - 'A'
	}
	return c
}
