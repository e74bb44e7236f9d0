package cachekey

// Percent-encoding canonicalization (RFC 3986 §2.1, §2.3, §6.2.2.2).
//
// Two spellings of a URI component are equivalent when they differ only in
// the case of percent-encoding hex digits or in whether an unreserved
// character is percent-encoded. Reserved characters are different: "/a%2Fb"
// names one segment and "/a/b" two, and "a=%26" is a value while "a=&" ends
// a parameter, so an encoded reserved character is never decoded and a bare
// one never encoded.

// component selects which bytes a component may carry unencoded: it is
// the class bit of those bytes.
type component uint8

// class bits of a byte.
const (
	unreserved = 1 << iota // ALPHA DIGIT - . _ ~ (RFC 3986 §2.3)
	pathOK                 // may appear unencoded in a path
	queryOK                // may appear unencoded in a query
	hexDigit
)

const (
	inPath  component = pathOK  // pchar and '/' (RFC 3986 §3.3)
	inQuery component = queryOK // pchar, '/' and '?' (RFC 3986 §3.4); '+' means a space
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			t[c] |= unreserved | pathOK | queryOK
		}
		switch c {
		// sub-delims, ':' and '@' (pchar), '/', and '[' ']' which browsers and
		// net/url leave alone in paths; '%' starts an escape or is stray.
		case '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/', '[', ']', '%':
			t[c] |= pathOK | queryOK
		case '?':
			t[c] |= queryOK
		}
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
			t[c] |= hexDigit
		}
	}
	return t
}()

func (m component) allows(c byte) bool { return byteClass[c]&uint8(m) != 0 }

func isHex(c byte) bool { return byteClass[c]&hexDigit != 0 }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

const upperHex = "0123456789ABCDEF"

// isEscape reports whether s[i:] starts with a well-formed escape "%XX".
func isEscape(s string, i int) bool {
	return i+2 < len(s) && s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2])
}

// isCanonicalEscape reports whether s[i:] starts with an escape that
// canonicalize keeps: well-formed, upper-case hex, of a byte that is not
// unreserved.
func isCanonicalEscape(s string, i int) bool {
	if !isEscape(s, i) {
		return false
	}
	hi, lo := s[i+1], s[i+2]
	return hi < 'a' && lo < 'a' && byteClass[unhex(hi)<<4|unhex(lo)]&unreserved == 0
}

// canonicalize appends the canonical spelling of component s to dst:
// escapes of unreserved characters decoded, hex digits upper-cased, bytes
// that may not appear in the component encoded, '+' in a query written as
// "%20", everything else (reserved characters, encoded or not) as it was.
//
// A '%' that does not start a well-formed escape is kept as it is, so that
// no two distinct inputs merge. Decoding next to such a stray '%' could
// make a new escape ("%%341" would become "%41", which the next pass
// decodes to "A"), so a hex digit that would follow a stray '%' within two
// bytes stays encoded; that keeps canonicalize idempotent.
func canonicalize(dst []byte, s string, m component) []byte {
	stray := -3 // index in dst of the last stray '%'
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && isEscape(s, i):
			d := unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
			if byteClass[d]&unreserved != 0 && !(isHex(d) && afterStray(dst, stray)) {
				dst = append(dst, d)
				continue
			}
			dst = append(dst, '%', upperHex[d>>4], upperHex[d&15])
		case c == '%':
			stray = len(dst)
			dst = append(dst, '%')
		case c == '+' && m == inQuery:
			dst = append(dst, "%20"...)
		case m.allows(c):
			dst = append(dst, c)
		default:
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	return dst
}

// afterStray reports whether a hex digit appended to dst now would be one
// of the two bytes after the stray '%' at dst[stray].
func afterStray(dst []byte, stray int) bool {
	switch len(dst) - stray {
	case 1:
		return true
	case 2:
		return isHex(dst[len(dst)-1])
	}
	return false
}

// appendDecoded appends s with every well-formed escape decoded, as a
// server decodes a parameter name or value ('+' never appears in canonical
// text; it is decoded as a space all the same).
func appendDecoded(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '%' && isEscape(s, i):
			dst = append(dst, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		case c == '+':
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// decodedEquals reports whether s, decoded as by appendDecoded, equals want.
func decodedEquals(s, want string) bool {
	j := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%' && isEscape(s, i):
			c = unhex(s[i+1])<<4 | unhex(s[i+2])
			i += 2
		case c == '+':
			c = ' '
		}
		if j == len(want) || want[j] != c {
			return false
		}
		j++
	}
	return j == len(want)
}
