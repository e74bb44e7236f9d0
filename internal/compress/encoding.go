package compress

import (
	"errors"
	"github.com/moatproxy/moat/internal/httpcache"
	"strconv"
	"strings"
)

// Encoding is a content coding that moat can produce and decode. The zero
// value is Identity: no coding.
type Encoding uint8

// The content codings of the HTTP Content Coding Registry that moat handles.
const (
	Identity Encoding = iota
	Gzip              // RFC 9110 §8.4.1.3
	Brotli            // RFC 7932
	Zstd              // RFC 8878, with the 8 MiB window of RFC 9659
	numEncodings
)

// Errors returned by the codecs.
var (
	ErrUnknownEncoding = errors.New("compress: unknown encoding")
	ErrTooLarge        = errors.New("compress: decoded body exceeds the size limit")
	ErrClosed          = errors.New("compress: read from a closed decoder")
)

// String returns the content-coding token: "" for Identity, then "gzip",
// "br" and "zstd". It is the value for a Content-Encoding field.
func (e Encoding) String() string {
	switch e {
	case Identity:
		return ""
	case Gzip:
		return "gzip"
	case Brotli:
		return "br"
	case Zstd:
		return "zstd"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

// ParseEncoding reads a Content-Encoding field value. It reports false for
// stacked codings ("gzip, br") and for codings it cannot decode ("deflate",
// "compress"): the gateway then stores the response as is and never
// transcodes it. An empty value, or one that lists only "identity", is
// Identity. "x-gzip" is gzip (RFC 9110 §8.4.1.3). Tokens are
// case-insensitive and empty list elements are skipped (RFC 9110 §5.6.1).
//
// WARNING: a field sent on several lines is one comma-separated list (RFC
// 9110 §5.3). Pass strings.Join(h.Values("Content-Encoding"), ","), not
// h.Get, or a second, stacked coding goes unseen.
func ParseEncoding(contentEncoding string) (Encoding, bool) {
	found := Identity
	for s := contentEncoding; s != ""; {
		var elem string
		elem, s, _ = strings.Cut(s, ",")
		elem = httpcache.TrimOWS(elem)
		if elem == "" || strings.EqualFold(elem, "identity") {
			continue
		}
		enc, ok := codingOf(elem)
		if !ok || enc == Identity || found != Identity {
			return Identity, false
		}
		found = enc
	}
	return found, true
}

// codingOf maps a coding token to its Encoding, case-insensitively. It
// switches on the length first: Accept-Encoding is parsed on every request.
func codingOf(token string) (Encoding, bool) {
	switch len(token) {
	case 2:
		if strings.EqualFold(token, "br") {
			return Brotli, true
		}
	case 4:
		if strings.EqualFold(token, "gzip") {
			return Gzip, true
		}
		if strings.EqualFold(token, "zstd") {
			return Zstd, true
		}
	case 6:
		if strings.EqualFold(token, "x-gzip") {
			return Gzip, true
		}
	case 8:
		if strings.EqualFold(token, "identity") {
			return Identity, true
		}
	}
	return Identity, false
}
