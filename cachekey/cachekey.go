// Package cachekey builds the canonical identity of a cacheable request.
//
// A key is a string: method, scheme, lower-cased host, path and query, each
// separated so that no two different requests produce the same text. The
// variant key of a response that varies on request headers (RFC 9111 §4.1)
// extends the primary key with the normalized values of those headers.
//
// The data flow on the request path:
//
//	Normalizer.Normalize(r.URL, route's ParamRules) → canonical path, query
//	SetPathQuery(outbound URL, path, query)          → the origin sees the same
//	Key(method, scheme, host, path, query)           → primary key
//	Language / MediaType / HeaderValue               → route vary dimensions
//
// Normalization makes equivalent URLs one key (RFC 3986 §6.2.2: percent-
// encoding, dot segments) and removes what cannot change the answer
// (tracking parameters, declared defaults, parameters outside a route's
// allow list). Because the origin receives the normalized request, a
// stored response always answers exactly what its key says.
package cachekey

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
)

// RequestKey returns the primary key of r as its URL stands (normalize
// it first): Key of its method, scheme, host, escaped path and query. HEAD
// shares GET's key, since a stored GET answers HEAD (RFC 9110 §9.3.2).
func RequestKey(r *http.Request) string { return RequestKeyWith(r, "") }

// RequestKeyWith returns RequestKey(r) + suffix, built in one allocation.
func RequestKeyWith(r *http.Request, suffix string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	return keyWith(r.Method, scheme, host, r.URL.EscapedPath(), r.URL.RawQuery, suffix)
}

func writeLower(b *strings.Builder, s string) {
	if !hasUpper(s) {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// Variant returns the key of the variant of primary selected by the values
// of the request header fields named in vary (canonical names, in the
// order the response listed them). Values are normalized per RFC 9111
// §4.1: field lines combined, whitespace around commas removed; a missing
// field differs from an empty one.
//
// The values of credential fields (see Credential) enter the key as a hash,
// never as they are: a key is listed by the admin API and may be written to
// logs and shared tiers, and a token there could be replayed.
func Variant(primary string, vary []string, h http.Header) string {
	var b strings.Builder
	b.WriteString(primary)
	for _, name := range vary {
		b.WriteString("\x00")
		b.WriteString(name)
		vs, ok := h[name]
		if !ok {
			b.WriteString("\x01")
			continue
		}
		b.WriteByte('=')
		if Credential(name) {
			b.WriteString(HashValue(strings.Join(vs, ",")))
			continue
		}
		for i, v := range vs {
			if i > 0 {
				b.WriteByte(',')
			}
			writeNormalizedList(&b, v)
		}
	}
	return b.String()
}

// Credential reports whether a request header field (canonical name)
// carries credentials by its name: Authorization, Proxy-Authorization,
// Cookie, or a name holding "auth", "token", "key", "session" or "secret"
// (X-API-Key, X-Auth-Token, X-Session-Id). Keys hold such a field's value
// only hashed (Variant, HeaderValue's callers).
func Credential(name string) bool {
	switch name {
	case "Authorization", "Proxy-Authorization", "Cookie":
		return true
	}
	lower := strings.ToLower(name)
	for _, s := range [...]string{"auth", "token", "key", "session", "secret"} {
		if strings.Contains(lower, s) {
			return true
		}
	}
	return false
}

// HashValue is how a credential's value enters a key: "h:" and the first
// 128 bits of its SHA-256, in hex. It tells variants apart without
// revealing the value.
func HashValue(v string) string {
	sum := sha256.Sum256([]byte(v))
	return "h:" + hex.EncodeToString(sum[:16])
}

// writeNormalizedList writes a field value with optional whitespace around
// list commas removed, so "a, b" and "a,b" select the same variant.
func writeNormalizedList(b *strings.Builder, v string) {
	v = strings.TrimSpace(v)
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ',' {
			b.WriteByte(',')
			for i+1 < len(v) && (v[i+1] == ' ' || v[i+1] == '\t') {
				i++
			}
			continue
		}
		if c == ' ' || c == '\t' {
			j := i
			for j < len(v) && (v[j] == ' ' || v[j] == '\t') {
				j++
			}
			if j < len(v) && v[j] == ',' {
				i = j - 1
				continue
			}
		}
		b.WriteByte(c)
	}
}
