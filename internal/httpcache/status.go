package httpcache

import "strconv"

// Status is one member of a Cache-Status field (RFC 9211 §2): what one cache
// did with the request.
type Status struct {
	Hit       bool   // §2.1: served from cache without going forward
	Fwd       string // §2.2: "", "bypass", "method", "uri-miss", "vary-miss", "miss", "request", "stale", "partial"
	FwdStatus int    // §2.3: status of the forward response; 0 omits it
	TTL       int64  // §2.4: seconds of freshness left, negative when stale; sent only when HasTTL
	HasTTL    bool
	Stored    bool   // §2.5: the forward response was stored
	Collapsed bool   // §2.6: the forward request was collapsed with others
	Key       string // §2.7: the cache key, omitted when ""
	Detail    string // §2.8: omitted when ""; a token when it is one, else a string
}

// AppendCacheStatus appends one Cache-Status list member (RFC 9211) to b,
// such as `moat; hit; ttl=281`, `moat; fwd=miss; stored` or
// `moat; fwd=stale; fwd-status=304; ttl=30`, and returns the extended slice.
// It does not allocate when b has room.
//
// Values are made valid Structured Fields (RFC 8941): cacheName and Detail
// become strings when they are not tokens, bytes outside printable ASCII in
// strings become '?', a Fwd that is not a token is dropped, and TTL is
// clamped to the 15 digits of an sf-integer.
func AppendCacheStatus(b []byte, cacheName string, s Status) []byte {
	b = appendTokenOrString(b, cacheName)
	if s.Hit {
		b = append(b, "; hit"...)
	}
	if s.Fwd != "" && isSFToken(s.Fwd) {
		b = append(b, "; fwd="...)
		b = append(b, s.Fwd...)
	}
	if s.FwdStatus != 0 {
		b = append(b, "; fwd-status="...)
		b = strconv.AppendInt(b, int64(s.FwdStatus), 10)
	}
	if s.HasTTL {
		const sfIntegerMax = 999_999_999_999_999
		b = append(b, "; ttl="...)
		b = strconv.AppendInt(b, min(max(s.TTL, -sfIntegerMax), sfIntegerMax), 10)
	}
	if s.Stored {
		b = append(b, "; stored"...)
	}
	if s.Collapsed {
		b = append(b, "; collapsed"...)
	}
	if s.Key != "" {
		b = append(b, "; key="...)
		b = appendSFString(b, s.Key)
	}
	if s.Detail != "" {
		b = append(b, "; detail="...)
		b = appendTokenOrString(b, s.Detail)
	}
	return b
}

func appendTokenOrString(b []byte, s string) []byte {
	if isSFToken(s) {
		return append(b, s...)
	}
	return appendSFString(b, s)
}

// appendSFString appends s as an sf-string (RFC 8941 §3.3.3).
func appendSFString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// isSFToken reports whether s is an sf-token (RFC 8941 §3.3.4):
// ( ALPHA / "*" ) *( tchar / ":" / "/" ).
func isSFToken(s string) bool {
	if s == "" || !isAlpha(s[0]) && s[0] != '*' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isTchar(c) && c != ':' && c != '/' {
			return false
		}
	}
	return true
}

// isTchar reports whether c is a tchar (RFC 9110 §5.6.2).
func isTchar(c byte) bool {
	switch {
	case isAlpha(c), '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
