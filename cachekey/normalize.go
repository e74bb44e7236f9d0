package cachekey

import "net/url"

// Normalize returns the canonical escaped path and raw query of u under
// the global rules and the route's rules (nil for none), and whether they
// differ from what u would send, so that the caller can leave an already
// canonical request alone.
//
// The path has its percent-encoding canonicalized (escapes of unreserved
// characters decoded, hex digits upper-cased, reserved characters kept as
// they were, so "%2F" stays "%2F"), dot segments removed (RFC 3986
// §5.2.4) and, when Options.CollapseSlashes is set, runs of '/' collapsed.
// An opaque URL's path (u.Opaque) is returned as it is.
//
// The query has its parameters canonicalized the same way, with '+' and
// "%20" both written "%20"; then tracking and strip patterns, the allow
// list and declared defaults drop parameters, the rest are sorted by name
// and value, and an empty query is "" (no '?').
//
// u's fragment, host and scheme are ignored; Key takes the host.
//
// WARNING: the origin must receive the normalized request (see
// SetPathQuery), or a stored response answers a request its key does not
// describe: a stripped parameter must never reach the origin.
func (n *Normalizer) Normalize(u *url.URL, rules *ParamRules) (escapedPath, rawQuery string, changed bool) {
	if u.Opaque != "" {
		escapedPath = u.Opaque
	} else {
		orig := u.EscapedPath()
		escapedPath = normalizePath(orig, n.collapse)
		changed = escapedPath != orig
	}
	rawQuery = n.normalizeQuery(u.RawQuery, rules)
	changed = changed || rawQuery != u.RawQuery || u.ForceQuery && rawQuery == ""
	return escapedPath, rawQuery, changed
}

// SetPathQuery sets u's path and query to the results of Normalize, so
// that u.EscapedPath() and u.RawQuery (and so u.RequestURI()) are exactly
// escapedPath and rawQuery: it sets Path to the decoded path and RawPath
// to escapedPath when the default encoding of Path would differ ("%2F",
// "%21"). An opaque u, or an escapedPath that is not a valid encoding,
// keeps its path.
func SetPathQuery(u *url.URL, escapedPath, rawQuery string) {
	u.RawQuery = rawQuery
	u.ForceQuery = false
	if u.Opaque != "" {
		return
	}
	p, err := url.PathUnescape(escapedPath)
	if err != nil {
		return
	}
	u.Path, u.RawPath = p, ""
	if u.EscapedPath() != escapedPath {
		u.RawPath = escapedPath
	}
}
