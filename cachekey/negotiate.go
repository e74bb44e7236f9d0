package cachekey

import (
	"strings"

	"github.com/moatproxy/moat/internal/httpcache"
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
		value = httpcache.TrimOWS(value)
		if value == "" || !valid(value) {
			continue
		}
		q, ok := 1000, true
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			name, v, _ := strings.Cut(httpcache.TrimOWS(p), "=")
			if strings.EqualFold(httpcache.TrimOWS(name), "q") {
				q, ok = httpcache.ParseQValue(httpcache.TrimOWS(v))
				break // accept-ext parameters after q are ignored
			}
		}
		if ok {
			dst = append(dst, weighted{value, q})
		}
	}
	return dst
}

// HeaderValue normalizes the value of a varied header that has no
// negotiation of its own: ASCII letters lower-cased, leading and trailing
// whitespace removed, and whitespace around commas removed, so "Gzip, BR"
// and "gzip,br" are one value. Join multiple field lines with "," first.
// Other bytes are kept, so distinct values stay distinct. It does not
// allocate when v is already normal.
func HeaderValue(v string) string {
	v = httpcache.TrimOWS(v)
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
