package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/internal/onewrite"
	"github.com/moatproxy/moat/policy"
)

// appendHit answers a plain fresh hit by appending the whole response to
// the connection's buffer (onewrite.AppendResponse) instead of going
// through net/http's header map: the stored fields are not copied into the
// response's map, cloned by WriteHeader, sorted and written one by one.
// The bytes are those serveEntry would have net/http send, in another
// field order. It reports false, having written nothing, for anything but
// the common case, which serveEntry then answers as usual: a GET over
// plaintext HTTP/1.1 that keeps the connection and has no body, no
// validators and no Range, a stored body the client accepts as it is, a
// route without downstream Cache-Control or edge fields, a stored header
// with Date and Content-Type (net/http would add or sniff them) whose
// every field is one net/http would send unchanged, no field set on w
// before (AppendResponse refuses once w.Header() was called), and a
// response that fits the connection buffer's free space: a larger body
// would be copied into a new array the size of the response on every hit,
// where net/http writes e.Body as it is (one writev).
func (h *Handler) appendHit(w http.ResponseWriter, r *http.Request, pol *policy.Policy, e *cache.Entry, now time.Time) bool {
	if r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close ||
		r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return false
	}
	if len(r.Header["If-None-Match"]) > 0 || len(r.Header["If-Modified-Since"]) > 0 || len(r.Header["Range"]) > 0 {
		return false
	}
	if (pol != nil && pol.Downstream != "") || len(h.downstreamFields[pol]) > 0 { // see downstreamCacheControl
		return false
	}
	status := http.StatusText(e.Status)
	if status == "" || e.Status < 200 || e.Status == http.StatusNoContent || e.Status == http.StatusNotModified ||
		len(e.Header["Date"]) == 0 || len(e.Header["Content-Type"]) == 0 || len(e.Header["Cache-Status"]) > 0 ||
		!acceptsStored(r, e) || !plainFields(e.Header) {
		return false
	}
	ttl := int64(e.TTL(now) / time.Second)
	age := ageValue(e.Age(now))[0]
	cacheStatus := h.hitStatus(ttl)[0]
	return onewrite.AppendResponse(w, func(b []byte) []byte {
		b = append(b, "HTTP/1.1 "...)
		b = strconv.AppendInt(b, int64(e.Status), 10)
		b = append(b, ' ')
		b = append(b, status...)
		b = append(b, "\r\n"...)
		for k, vs := range e.Header {
			switch k {
			case "Content-Length", "Age", "X-Cache":
				continue // set below, as serveEntry sets them
			}
			for _, v := range vs {
				b = append(b, k...)
				b = append(b, ": "...)
				b = append(b, v...)
				b = append(b, "\r\n"...)
			}
		}
		b = append(b, "Age: "...)
		b = append(b, age...)
		b = append(b, "\r\nCache-Status: "...)
		b = append(b, cacheStatus...)
		b = append(b, "\r\nX-Cache: HIT\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(e.Body)), 10)
		b = append(b, "\r\n\r\n"...)
		if len(b)+len(e.Body) > cap(b) {
			return nil // does not fit: net/http writes it without a copy
		}
		return append(b, e.Body...)
	})
}

// plainFields reports whether net/http would send every field of hdr as it
// is: a valid name (RFC 9110 §5.1 token), values without CR, LF or NUL and
// without the leading or trailing space net/http trims, and none of the
// fields it writes itself or that end a connection.
func plainFields(hdr http.Header) bool {
	for k, vs := range hdr {
		if !httpcache.IsToken(k) {
			return false
		}
		switch k {
		case "Connection", "Transfer-Encoding", "Trailer", "Keep-Alive", "Upgrade":
			return false
		}
		for _, v := range vs {
			if !plainValue(v) {
				return false
			}
		}
	}
	return true
}

func plainValue(v string) bool {
	if v != "" && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' || c == 0 {
			return false
		}
	}
	return true
}
