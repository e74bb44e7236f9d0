package cachekey

import "strings"

// Key returns the primary key of a request whose path and query Normalize
// has already canonicalized: "GET http://example.com/path?query", with the
// scheme and host lower-cased, the default port
// of the scheme (":80" for http, ":443" for https) and an empty port
// removed (RFC 3986 §6.2.3), and HEAD keyed as GET, since a stored GET
// answers HEAD (RFC 9110 §9.3.2). It allocates only the returned string.
//
// Key does not normalize escapedPath or rawQuery.
func Key(method, scheme, host, escapedPath, rawQuery string) string {
	return keyWith(method, scheme, host, escapedPath, rawQuery, "")
}

func keyWith(method, scheme, host, escapedPath, rawQuery, suffix string) string {
	if method == "HEAD" {
		method = "GET"
	}
	host = trimPort(scheme, host)
	size := len(method) + 1 + len(scheme) + 3 + len(host) + len(escapedPath) + len(suffix)
	if rawQuery != "" {
		size += 1 + len(rawQuery)
	}
	var b strings.Builder
	b.Grow(size)
	b.WriteString(method)
	b.WriteByte(' ')
	writeLower(&b, scheme)
	b.WriteString("://")
	writeLower(&b, host)
	b.WriteString(escapedPath)
	if rawQuery != "" {
		b.WriteByte('?')
		b.WriteString(rawQuery)
	}
	b.WriteString(suffix)
	return b.String()
}

// trimPort removes the scheme's default port, or an empty port, from host.
func trimPort(scheme, host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.IndexByte(host[i:], ']') >= 0 {
		return host // no port, or a bare IPv6 literal
	}
	switch port := host[i+1:]; {
	case port == "",
		port == "80" && strings.EqualFold(scheme, "http"),
		port == "443" && strings.EqualFold(scheme, "https"):
		return host[:i]
	}
	return host
}

// Host returns host as a key holds it: lower-cased, with the scheme's
// default port and an empty port removed. The origin receives this
// spelling too (X-Forwarded-Host, and Host when the client's is kept), so
// that the entry stored for it answers every spelling the key merges.
func Host(scheme, host string) string {
	host = trimPort(scheme, host)
	if hasUpper(host) {
		host = strings.ToLower(host)
	}
	return host
}
