package httpcache

import (
	"net/http"
	"strings"
)

// NotModifiedHeaders are the fields a 304 generated from a stored 200 must
// carry when the 200 would have (RFC 9110 §15.4.5: Content-Location, Date,
// ETag, Vary, Cache-Control, Expires), plus Last-Modified, which is allowed.
// The names are canonical (http.CanonicalHeaderKey: "Etag"), so they index an
// http.Header directly.
//
// WARNING: shared by every caller; never modify it. Use slices.Clone to
// build a different list.
var NotModifiedHeaders = []string{
	"Cache-Control",
	"Content-Location",
	"Date",
	"Etag",
	"Expires",
	"Last-Modified",
	"Vary",
}

// IsConditional reports whether the request carries If-None-Match or
// If-Modified-Since.
func IsConditional(h http.Header) bool {
	return present(h["If-None-Match"]) || present(h["If-Modified-Since"])
}

// NotModified reports whether the preconditions of a GET or HEAD request are
// false for a stored response with the given ETag, Last-Modified and Date
// field values, so that a 304 (Not Modified) may be sent instead of the
// response (RFC 9110 §13.2.2, RFC 9111 §4.3.2). The caller checks the method.
//
// If-None-Match, when present, decides alone, by weak comparison (RFC 9110
// §13.1.2, §8.8.3.2): "*" matches any stored response, otherwise one listed
// entity-tag must match etag. Otherwise If-Modified-Since (§13.1.3) is
// compared with lastModified or, when that is empty, with date (RFC 9111
// §4.3.2); an invalid If-Modified-Since, Last-Modified or date never matches.
func NotModified(reqHeader http.Header, etag, lastModified, date string) bool {
	if inm := reqHeader["If-None-Match"]; present(inm) {
		for _, line := range inm {
			if etagListMatches(line, etag) {
				return true
			}
		}
		return false
	}
	ims := reqHeader["If-Modified-Since"]
	if len(ims) != 1 { // §13.1.3: ignore a field with more than one member
		return false
	}
	since, ok := parseHTTPDate(ims[0])
	if !ok {
		return false
	}
	modified := lastModified
	if modified == "" {
		modified = date
	}
	t, ok := parseHTTPDate(modified)
	return ok && !t.After(since)
}

// etagListMatches reports whether the If-None-Match field line list holds "*"
// or an entity-tag that weakly matches etag. It stops at the first malformed
// member, since the rest cannot be delimited reliably.
func etagListMatches(list, etag string) bool {
	opaque := strings.TrimPrefix(trimOWS(etag), "W/")
	for i := 0; i < len(list); {
		for i < len(list) && (list[i] == ',' || isOWS(list[i])) {
			i++
		}
		if i == len(list) {
			return false
		}
		if list[i] == '*' {
			// "*" is the whole field value or nothing (If-None-Match =
			// "*" / #entity-tag): in a list it is malformed.
			return i == 0 && trimOWS(list[1:]) == "" || trimOWS(list) == "*"
		}
		if strings.HasPrefix(list[i:], "W/") {
			i += 2
		}
		if i == len(list) || list[i] != '"' {
			return false
		}
		// entity-tag = [ W/ ] DQUOTE *etagc DQUOTE; etagc includes ','.
		end := strings.IndexByte(list[i+1:], '"')
		if end < 0 {
			return false
		}
		tag := list[i : i+end+2]
		if opaque != "" && tag == opaque {
			return true
		}
		i += end + 2
	}
	return false
}

// present reports whether a field has a non-empty value.
func present(lines []string) bool {
	for _, v := range lines {
		if trimOWS(v) != "" {
			return true
		}
	}
	return false
}
