package httpcache

import (
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// ResponseDirectives are the Cache-Control response directives (RFC 9111
// §5.2.2), plus stale-while-revalidate and stale-if-error (RFC 5861).
//
// A duration is only meaningful when its Has flag is set. When a numeric
// directive appears more than once, the smallest value is kept: RFC 9111
// §4.2.1 allows treating such a response as stale, and the smallest value is
// the most restrictive reading that still uses what the origin sent.
// An invalid argument (max-age=abc, max-age=-1, max-age without "=") counts as
// 0 with the Has flag set, which makes the response stale at once.
type ResponseDirectives struct {
	MaxAge, SMaxAge                          time.Duration
	HasMaxAge, HasSMaxAge                    bool
	StaleWhileRevalidate, StaleIfError       time.Duration // RFC 5861
	HasStaleWhileRevalidate, HasStaleIfError bool

	// NoCache and Private are also true for the qualified forms
	// (no-cache="Set-Cookie"). The field names of those forms are in
	// NoCacheFields and PrivateFields, canonicalized; the slices are nil when
	// an unqualified form is present anywhere, or when the argument is empty
	// or malformed, since the unqualified form is the more restrictive one.
	NoStore, NoCache, Private, Public bool
	NoCacheFields, PrivateFields      []string

	MustRevalidate, ProxyRevalidate        bool
	MustUnderstand, NoTransform, Immutable bool
}

// MustRevalidateStale reports whether a shared cache must not serve the
// response once it is stale without revalidating it first: must-revalidate
// (§5.2.2.2), proxy-revalidate (§5.2.2.8), or s-maxage, which implies
// proxy-revalidate (§5.2.2.10). This forbids serving stale on errors too
// (§4.2.4), whatever stale-if-error says.
func (d ResponseDirectives) MustRevalidateStale() bool {
	return d.MustRevalidate || d.ProxyRevalidate || d.HasSMaxAge
}

// RequestDirectives are the Cache-Control request directives (RFC 9111
// §5.2.1). Duplicated numeric directives keep their most restrictive value:
// the smallest max-age and max-stale, the largest min-fresh.
type RequestDirectives struct {
	MaxAge, MaxStale, MinFresh          time.Duration
	HasMaxAge, HasMaxStale, HasMinFresh bool
	// MaxStaleAny is "max-stale" without a value: any staleness is accepted.
	// It is false when a max-stale with a value is also present.
	MaxStaleAny                                 bool
	NoCache, NoStore, OnlyIfCached, NoTransform bool
}

// ParseResponseDirectives parses all Cache-Control field lines of a response
// (RFC 9110 §5.6.1 list syntax, RFC 9111 §5.2). Directive names are
// case-insensitive, arguments may be tokens or quoted-strings, unknown
// directives are ignored. It does not allocate unless the response carries a
// qualified no-cache or private directive.
func ParseResponseDirectives(h http.Header) ResponseDirectives {
	var d ResponseDirectives
	var noCacheAll, privateAll bool
	for _, line := range h["Cache-Control"] {
		for i := 0; ; {
			e, next, ok := nextElement(line, i)
			if !ok {
				break
			}
			i = next
			switch lookupDirective(e.name) {
			case dirMaxAge:
				keepMin(&d.MaxAge, &d.HasMaxAge, e)
			case dirSMaxAge:
				keepMin(&d.SMaxAge, &d.HasSMaxAge, e)
			case dirStaleWhileRevalidate:
				keepMin(&d.StaleWhileRevalidate, &d.HasStaleWhileRevalidate, e)
			case dirStaleIfError:
				keepMin(&d.StaleIfError, &d.HasStaleIfError, e)
			case dirNoStore:
				d.NoStore = true
			case dirNoCache:
				d.NoCache = true
				d.NoCacheFields, noCacheAll = appendFields(d.NoCacheFields, noCacheAll, e)
			case dirPrivate:
				d.Private = true
				d.PrivateFields, privateAll = appendFields(d.PrivateFields, privateAll, e)
			case dirPublic:
				d.Public = true
			case dirMustRevalidate:
				d.MustRevalidate = true
			case dirProxyRevalidate:
				d.ProxyRevalidate = true
			case dirMustUnderstand:
				d.MustUnderstand = true
			case dirNoTransform:
				d.NoTransform = true
			case dirImmutable:
				d.Immutable = true
			}
		}
	}
	if noCacheAll {
		d.NoCacheFields = nil
	}
	if privateAll {
		d.PrivateFields = nil
	}
	return d
}

// ParseRequestDirectives parses all Cache-Control field lines of a request
// (RFC 9111 §5.2.1). Without any Cache-Control field, "Pragma: no-cache" counts
// as no-cache (RFC 7234 §5.4; RFC 9111 §5.4 deprecates Pragma but this keeps
// old clients working). Invalid arguments: max-age and max-stale count as 0
// (serve only fresh responses), an invalid min-fresh is ignored.
func ParseRequestDirectives(h http.Header) RequestDirectives {
	var d RequestDirectives
	lines, ok := h["Cache-Control"]
	if !ok {
		for _, line := range h["Pragma"] {
			for i := 0; ; {
				e, next, ok := nextElement(line, i)
				if !ok {
					break
				}
				i = next
				if lookupDirective(e.name) == dirNoCache { // with or without an argument

					d.NoCache = true
				}
			}
		}
		return d
	}
	for _, line := range lines {
		for i := 0; ; {
			e, next, ok := nextElement(line, i)
			if !ok {
				break
			}
			i = next
			switch lookupDirective(e.name) {
			case dirMaxAge:
				keepMin(&d.MaxAge, &d.HasMaxAge, e)
			case dirMaxStale:
				if e.hasValue {
					keepMin(&d.MaxStale, &d.HasMaxStale, e)
				} else {
					d.MaxStaleAny = true
				}
			case dirMinFresh:
				if v, ok := deltaSeconds(e); ok && (!d.HasMinFresh || v > d.MinFresh) {
					d.MinFresh, d.HasMinFresh = v, true
				}
			case dirNoCache:
				d.NoCache = true
			case dirNoStore:
				d.NoStore = true
			case dirOnlyIfCached:
				d.OnlyIfCached = true
			case dirNoTransform:
				d.NoTransform = true
			}
		}
	}
	if d.HasMaxStale {
		d.MaxStaleAny = false
	}
	return d
}

// keepMin records the delta-seconds argument of e in *dst, keeping the
// smaller value when the directive repeats. An invalid argument counts as 0.
func keepMin(dst *time.Duration, has *bool, e element) {
	v, _ := deltaSeconds(e)
	if !*has || v < *dst {
		*dst = v
	}
	*has = true
}

// appendFields adds the field names of a qualified no-cache or private
// directive (RFC 9111 §5.2.2.4, §5.2.2.7) to fields. all reports that an
// unqualified form was seen: an empty or malformed argument counts as one.
func appendFields(fields []string, all bool, e element) ([]string, bool) {
	if all || !e.hasValue || e.bad {
		return nil, true
	}
	v := e.value
	if e.escaped {
		v = unquote(v)
	}
	found := false
	for name := range strings.SplitSeq(v, ",") {
		name = trimOWS(name)
		if name == "" {
			continue
		}
		found = true
		name = textproto.CanonicalMIMEHeaderKey(name)
		if !slices.Contains(fields, name) {
			fields = append(fields, name)
		}
	}
	if !found {
		return nil, true
	}
	return fields, false
}

type directive uint8

const (
	dirUnknown directive = iota
	dirMaxAge
	dirSMaxAge
	dirMaxStale
	dirMinFresh
	dirStaleWhileRevalidate
	dirStaleIfError
	dirNoStore
	dirNoCache
	dirPrivate
	dirPublic
	dirMustRevalidate
	dirProxyRevalidate
	dirMustUnderstand
	dirNoTransform
	dirImmutable
	dirOnlyIfCached
)

// lookupDirective maps a directive name to its kind, ignoring ASCII case
// (RFC 9111 §5.2). It lowers the name into a stack buffer: no allocation.
func lookupDirective(name string) directive {
	var buf [len("stale-while-revalidate")]byte
	if len(name) > len(buf) {
		return dirUnknown
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(name)]) {
	case "max-age":
		return dirMaxAge
	case "s-maxage":
		return dirSMaxAge
	case "max-stale":
		return dirMaxStale
	case "min-fresh":
		return dirMinFresh
	case "stale-while-revalidate":
		return dirStaleWhileRevalidate
	case "stale-if-error":
		return dirStaleIfError
	case "no-store":
		return dirNoStore
	case "no-cache":
		return dirNoCache
	case "private":
		return dirPrivate
	case "public":
		return dirPublic
	case "must-revalidate":
		return dirMustRevalidate
	case "proxy-revalidate":
		return dirProxyRevalidate
	case "must-understand":
		return dirMustUnderstand
	case "no-transform":
		return dirNoTransform
	case "immutable":
		return dirImmutable
	case "only-if-cached":
		return dirOnlyIfCached
	}
	return dirUnknown
}
