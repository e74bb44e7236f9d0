package compress

import (
	"github.com/moatproxy/moat/internal/httpcache"
	"net/http"
	"strings"
)

// AddVary makes h list Accept-Encoding in its Vary field, unless it already
// does or holds "Vary: *" (RFC 9110 §12.5.5). It does not allocate when the
// field already covers Accept-Encoding.
//
// Every response of an entry that may be served in more than one coding
// needs it, the identity ones included: downstream caches must not hand a
// decoded copy to a client that asked for br, nor br bytes to one that did
// not. Add it whether this response was coded or not.
func AddVary(h http.Header) {
	for _, line := range h["Vary"] {
		for s := line; s != ""; {
			var name string
			name, s, _ = strings.Cut(s, ",")
			name = httpcache.TrimOWS(name)
			if name == "*" || strings.EqualFold(name, "Accept-Encoding") {
				return
			}
		}
	}
	h.Add("Vary", "Accept-Encoding")
}
