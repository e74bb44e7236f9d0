package httpcache

import (
	"net/http"
	"strings"
)

// HopByHop reports whether name is a hop-by-hop field (RFC 9110 §7.6.1),
// meaningful only for one connection and never stored or forwarded:
// Connection, Proxy-Connection, Keep-Alive, Proxy-Authenticate,
// Proxy-Authorization, TE, Trailer, Transfer-Encoding and Upgrade. The
// comparison ignores case, so both "TE" and its canonical form "Te" match.
func HopByHop(name string) bool {
	for _, h := range hopByHop {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// hopByHop lists the hop-by-hop fields in canonical form, as
// net/http/httputil does.
var hopByHop = [...]string{
	"Connection",
	"Proxy-Connection", // non-standard, sent by old clients
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// RemoveHopByHop deletes from h the hop-by-hop fields and every field that a
// Connection field names (RFC 9110 §7.6.1).
func RemoveHopByHop(h http.Header) {
	for _, line := range h["Connection"] {
		for name := range strings.SplitSeq(line, ",") {
			if name = trimOWS(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		delete(h, name)
	}
}
