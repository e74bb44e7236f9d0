package httpcache

import (
	"strings"
	"time"
)

// maxDelta is the largest delta-seconds value a cache must represent:
// larger values and overflowing calculations saturate to it (RFC 9111 §1.2.2).
const maxDelta = (1 << 31) * time.Second

// element is one member of a comma-separated list of name[=value] pairs
// (RFC 9110 §5.6.1), as used by Cache-Control (RFC 9111 §5.2) and Pragma.
type element struct {
	name     string // as sent; directive names match case-insensitively
	value    string // argument without its quotes; quoted-pairs are still escaped when escaped is set
	hasValue bool
	escaped  bool // value holds quoted-pair escapes (`\x`, RFC 9110 §5.6.4)
	bad      bool // the argument is malformed: unterminated quoted-string or junk after it
}

// nextElement parses the list member at s[i:] and returns it with the offset
// of the rest of the list. ok is false when only separators and whitespace
// remain. It accepts optional whitespace around "=" although the grammar does
// not, and never reads past len(s).
func nextElement(s string, i int) (e element, next int, ok bool) {
	for i < len(s) && (s[i] == ',' || isOWS(s[i])) {
		i++
	}
	if i == len(s) {
		return e, i, false
	}
	start := i
	for i < len(s) && s[i] != ',' && s[i] != '=' {
		i++
	}
	e.name = trimOWS(s[start:i])
	if i == len(s) || s[i] == ',' {
		return e, i, true
	}
	i++ // '='
	e.hasValue = true
	for i < len(s) && isOWS(s[i]) {
		i++
	}
	if i == len(s) || s[i] != '"' {
		start = i
		for i < len(s) && s[i] != ',' {
			i++
		}
		e.value = trimOWS(s[start:i])
		return e, i, true
	}
	// quoted-string, RFC 9110 §5.6.4: commas inside belong to the value.
	i++
	start = i
	for i < len(s) && s[i] != '"' {
		if s[i] == '\\' && i+1 < len(s) {
			e.escaped = true
			i++
		}
		i++
	}
	e.value = s[start:i]
	if i == len(s) {
		e.bad = true
		return e, i, true
	}
	i++ // closing quote
	for i < len(s) && isOWS(s[i]) {
		i++
	}
	if i < len(s) && s[i] != ',' {
		e.bad = true
		for i < len(s) && s[i] != ',' {
			i++
		}
	}
	return e, i, true
}

// deltaSeconds parses an element's argument as delta-seconds (RFC 9111
// §1.2.2): one or more digits, quoted or not, saturating at maxDelta.
func deltaSeconds(e element) (time.Duration, bool) {
	if !e.hasValue || e.bad {
		return 0, false
	}
	return parseDelta(e.value, e.escaped)
}

func parseDelta(v string, escaped bool) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	const limit = int64(maxDelta / time.Second)
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if escaped && c == '\\' && i+1 < len(v) {
			i++
			c = v[i]
		}
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < limit {
			n = n*10 + int64(c-'0')
		}
	}
	return time.Duration(min(n, limit)) * time.Second, true
}

// unquote removes the quoted-pair escapes from a quoted-string's content.
func unquote(v string) string {
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// hasMember reports whether the comma-separated lists in values contain
// member, compared case-insensitively.
func hasMember(values []string, member string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(trimOWS(part), member) {
				return true
			}
		}
	}
	return false
}

func isOWS(c byte) bool { return c == ' ' || c == '\t' }

// trimOWS trims optional whitespace (RFC 9110 §5.6.3) from both ends of s.
func trimOWS(s string) string { return TrimOWS(s) }

// TrimOWS trims optional whitespace (spaces and horizontal tabs, RFC 9110
// §5.6.3) from both ends of s.
func TrimOWS(s string) string {
	for len(s) > 0 && isOWS(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isOWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// saturate clamps d to [0, maxDelta] (RFC 9111 §1.2.2).
func saturate(d time.Duration) time.Duration {
	return min(max(d, 0), maxDelta)
}

// ParseQValue parses a qvalue (RFC 9110 §12.4.2: "0", "0.5", "1.000") into
// thousandths; ok is false for anything else.
func ParseQValue(s string) (q int, ok bool) {
	if s == "" || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	q = int(s[0]-'0') * 1000
	if len(s) == 1 {
		return q, true
	}
	if s[1] != '.' || len(s) > 5 {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		q += int(s[i]-'0') * scale
		scale /= 10
	}
	if q > 1000 {
		return 0, false
	}
	return q, true
}
