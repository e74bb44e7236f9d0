package cachekey

import (
	"bytes"
	"net/url"
	"strings"
)

// normalizePath returns the canonical form of an escaped path: escapes
// canonicalized, a leading '/' ensured (an empty path is "/", RFC 3986
// §6.2.3), runs of '/' collapsed when collapse is set, and dot segments
// removed (RFC 3986 §5.2.4). "*" (the asterisk-form of OPTIONS) is kept.
//
// Escapes are canonicalized first, so "%2E%2E" is a dot segment, as RFC
// 3986 §6.2.2 orders it; "%2F" is not a '/', so "..%2Fx" is one ordinary
// segment. Slashes are collapsed before dot segments are removed, so that
// "/a//../b" is "/b" (as "/a/../b" is) and the result has no "//" to
// collapse the next time.
func normalizePath(p string, collapse bool) string {
	if p == "*" || isCanonicalPath(p, collapse) {
		return p
	}
	buf := make([]byte, 0, len(p)+8)
	if len(p) == 0 || p[0] != '/' {
		buf = append(buf, '/')
	}
	buf = canonicalize(buf, p, inPath)
	if collapse {
		buf = collapseSlashes(buf)
	}
	if buf = removeDotSegments(buf); string(buf) == p {
		return p
	}
	return string(buf)
}

// isCanonicalPath reports, without allocating, whether normalizePath would
// return p unchanged, answering false when in doubt.
func isCanonicalPath(p string, collapse bool) bool {
	if len(p) == 0 || p[0] != '/' {
		return false
	}
	seg := 1 // start of the current segment
	for i := 1; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			switch {
			case byteClass[c]&unreserved != 0:
				continue
			case c == '%':
				if !isCanonicalEscape(p, i) {
					return false
				}
				i += 2
				continue
			case !inPath.allows(c):
				return false
			case c != '/':
				continue
			}
		}
		switch i - seg {
		case 0:
			if collapse && i < len(p) {
				return false
			}
		case 1, 2:
			if p[seg:i] == "." || p[seg:i] == ".." {
				return false
			}
		}
		seg = i + 1
	}
	return true
}

// collapseSlashes replaces every run of '/' in p with one '/', in place.
func collapseSlashes(p []byte) []byte {
	out := p[:0]
	for i, c := range p {
		if c == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		out = append(out, c)
	}
	return out
}

// removeDotSegments is RFC 3986 §5.2.4 for a path that starts with '/'.
// It works in place: the output never grows past the input read so far.
func removeDotSegments(p []byte) []byte {
	w := 0 // p[:w] is the output buffer
	pop := func() { w = max(bytes.LastIndexByte(p[:w], '/'), 0) }
	for r := 0; r < len(p); {
		in := p[r:]
		switch {
		case bytes.HasPrefix(in, []byte("/./")):
			r += 2 // B
		case string(in) == "/.":
			r++ // B: the input becomes "/"
			p[r] = '/'
		case bytes.HasPrefix(in, []byte("/../")):
			r += 3 // C
			pop()
		case string(in) == "/..":
			r += 2 // C: the input becomes "/"
			p[r] = '/'
			pop()
		default: // E: move the first segment, with its leading '/'
			n := bytes.IndexByte(in[1:], '/') + 1
			if n == 0 {
				n = len(in)
			}
			w += copy(p[w:], in[:n])
			r += n
		}
	}
	if w == 0 {
		return append(p[:0], '/')
	}
	return p[:w]
}

// Path returns the canonical escaped path of u (as Normalize would) and
// whether it differs from what u would send. Route matching runs on it, so
// the route, the key and the origin request all see one path.
func (n *Normalizer) Path(u *url.URL) (escapedPath string, changed bool) {
	collapse := n != nil && n.collapse
	if u.Opaque != "" {
		return u.Opaque, false
	}
	orig := u.EscapedPath()
	escapedPath = normalizePath(orig, collapse)
	return escapedPath, escapedPath != orig
}

// Query returns the canonical raw query of u (as Normalize would) and
// whether it differs from what u would send, for a u whose path Path has
// already canonicalized.
func (n *Normalizer) Query(u *url.URL, rules *ParamRules) (rawQuery string, changed bool) {
	rawQuery = n.normalizeQuery(u.RawQuery, rules)
	return rawQuery, rawQuery != u.RawQuery || u.ForceQuery && rawQuery == ""
}

// Ambiguous reports whether a canonical escaped path still holds dot
// segments once its escapes are decoded, backslashes read as slashes and
// segment parameters dropped ("/a/..%2Fb", "/a/..%5Cb", "/a/..\b",
// "/a/..;/b"). Origins disagree on such paths
// (some decode "%2F" or fold '\' into '/' and then resolve the dots, most
// do not), so no route, key or origin request can describe them for
// every origin: moat refuses them.
func Ambiguous(escapedPath string) bool {
	if !strings.Contains(escapedPath, ".") || !strings.ContainsAny(escapedPath, "%\\;") {
		return false // a canonical path without escapes or parameters has no dot segment left
	}
	decoded, err := url.PathUnescape(escapedPath)
	if err != nil {
		return true
	}
	for _, seg := range strings.FieldsFunc(decoded, func(r rune) bool { return r == '/' || r == '\\' }) {
		// Servlet containers drop a segment's ";parameters" before
		// resolving dots: "..;x" is ".." to them.
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
