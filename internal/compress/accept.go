package compress

import (
	"github.com/moatproxy/moat/internal/httpcache"
	"net/http"
	"strings"
)

// AcceptEncoding returns the Accept-Encoding field value of h, its lines
// joined with commas (RFC 9110 §5.3). It allocates only when the field
// spans several lines.
func AcceptEncoding(h http.Header) string {
	switch v := h["Accept-Encoding"]; len(v) {
	case 0:
		return ""
	case 1:
		return v[0]
	default:
		return strings.Join(v, ",")
	}
}

// Accepts reports whether the Accept-Encoding field value acceptEncoding
// accepts a response coded with enc (RFC 9110 §12.5.3):
//
//   - A coding listed with a weight above zero is accepted; "q=0" refuses it.
//   - "*" stands for every coding not listed, identity included.
//   - Identity is accepted unless refused by "identity;q=0", or by "*;q=0"
//     without an "identity" entry.
//   - "x-gzip" is gzip. Tokens and "q" are case-insensitive; whitespace
//     around elements and parameters is ignored.
//   - A coding listed twice takes its lower weight. An element with a
//     malformed weight is ignored, as if it were not listed: the safe reading,
//     since identity stays acceptable and a compressed coding does not.
//
// An empty value accepts identity only. RFC 9110 lets a request without the
// field accept any coding, but most clients that omit it (curl, scripts,
// health checks) cannot decode anything, so a cache that serves stored
// compressed bytes treats a missing field like an empty one.
//
// Accepts does not allocate.
func Accepts(acceptEncoding string, enc Encoding) bool {
	if enc >= numEncodings {
		return false
	}
	ok, _ := parseAccept(acceptEncoding).resolve(enc)
	return ok
}

// wildcard is the slot of "*" in weights.
const wildcard = numEncodings

// weights holds the weights of one Accept-Encoding field value in
// thousandths (1.000 is 1000), indexed by Encoding, with "*" last. A coding
// the field does not list is -1.
type weights [numEncodings + 1]int16

// resolve reports whether enc is acceptable under w and with what weight.
// Identity acceptable only by default has weight 0, below every listed coding.
func (w weights) resolve(enc Encoding) (ok bool, q int16) {
	if q := w[enc]; q >= 0 {
		return q > 0, q
	}
	if q := w[wildcard]; q >= 0 {
		return q > 0, q
	}
	return enc == Identity, 0
}

// parseAccept reads an Accept-Encoding field value:
//
//	Accept-Encoding = #( codings [ weight ] )
//	codings         = content-coding / "identity" / "*"
//	weight          = OWS ";" OWS "q=" qvalue
func parseAccept(s string) weights {
	w := weights{-1, -1, -1, -1, -1}
	for s != "" {
		var elem string
		elem, s, _ = strings.Cut(s, ",")
		token, params, _ := strings.Cut(elem, ";")
		token = httpcache.TrimOWS(token)
		var slot Encoding
		if token == "*" {
			slot = wildcard
		} else if enc, ok := codingOf(token); ok {
			slot = enc
		} else {
			continue
		}
		q, ok := parseWeight(params)
		if !ok {
			continue
		}
		if w[slot] < 0 || q < w[slot] {
			w[slot] = q
		}
	}
	return w
}

// parseWeight reads the parameters after a coding and returns its weight:
// 1000 without a "q" parameter. Other parameters are ignored; a malformed
// "q" reports false.
func parseWeight(params string) (int16, bool) {
	q := int16(1000)
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, value, hasValue := strings.Cut(p, "=")
		if !strings.EqualFold(httpcache.TrimOWS(name), "q") {
			continue
		}
		if !hasValue {
			return 0, false
		}
		v, ok := httpcache.ParseQValue(httpcache.TrimOWS(value))
		if !ok {
			return 0, false
		}
		q = int16(v)
	}
	return q, true
}
