package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/policy"
)

// serveEntry writes a stored response for a request of route pol: its
// header fields (shared value slices, no re-encoding), Age, the route's
// downstream Cache-Control, Cache-Status and X-Cache, then the body; or a
// 304 when the client's validators match (RFC 9110 §13.1, §15.4.5).
func (h *Handler) serveEntry(w http.ResponseWriter, r *http.Request, pol *policy.Policy, e *cache.Entry, now time.Time, st httpcache.Status, xcache string) {
	if st == (httpcache.Status{Hit: true}) && h.appendHit(w, r, pol, e, now) {
		return // the common fresh hit, sent without net/http's header map
	}
	hdr := w.Header()
	for k, v := range e.Header {
		hdr[k] = v
	}
	hdr["Age"] = ageValue(e.Age(now))
	h.downstreamCacheControl(hdr, pol)
	st.TTL, st.HasTTL = int64(e.TTL(now)/time.Second), true
	if st == (httpcache.Status{Hit: true, TTL: st.TTL, HasTTL: true}) && len(e.Header["Cache-Status"]) == 0 {
		// The common case: a plain fresh hit, whose field value depends
		// only on the TTL second; formatted once per value, not per hit.
		hdr["Cache-Status"] = h.hitStatus(st.TTL)
		hdr["X-Cache"] = xCacheHit
	} else {
		setStatus(hdr, h.name, st, xCacheValue(xcache))
	}
	if (len(r.Header["If-None-Match"]) > 0 || len(r.Header["If-Modified-Since"]) > 0) &&
		e.Status == http.StatusOK && httpcache.NotModified(r.Header, e.ETag, e.LastModified, hdr.Get("Date")) {
		keepNotModifiedFields(hdr)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if _, ranged := r.Header["Range"]; ranged && e.Status == http.StatusOK && !h.passRanges {
		serveRange(w, r, e)
		return
	}
	if !acceptsStored(r, e) {
		writeDecoded(w, r, e)
		return
	}
	w.WriteHeader(e.Status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.Body)
	}
}

// serveRange answers a range request (RFC 9110 §14) from a stored complete
// response, with http.ServeContent: single and multiple ranges (as
// multipart/byteranges), suffix ranges, If-Range (a strong ETag, or the
// exact Last-Modified date), 416 with the length for an unsatisfiable
// range; ranges that overlap into more bytes than the body, or a Range it
// cannot parse, get the whole 200, which RFC 9110 §14.2 allows. Ranges are
// of the identity representation: a body stored in moat's coding is
// decoded first (Content-Encoding is dropped). A body the origin encoded
// itself is the representation and is ranged as it is.
func serveRange(w http.ResponseWriter, r *http.Request, e *cache.Entry) {
	hdr := w.Header()
	body := e.Body
	if e.Coding != "" {
		var ok bool
		if body, ok = decodedBody(e); !ok || len(body) != e.IdentitySize {
			panic(http.ErrAbortHandler) // a stored body that does not decode: never send a wrong one
		}
		delete(hdr, "Content-Encoding")
	}
	delete(hdr, "Content-Length") // ServeContent sets the range's
	if _, ok := hdr["Content-Type"]; !ok {
		hdr["Content-Type"] = nil // no sniffing: the stored response had none
	}
	var modified time.Time
	if t, err := http.ParseTime(e.LastModified); err == nil && e.LastModified != "" {
		modified = t
	}
	// Range units are case-insensitive, and a Range of another unit is
	// ignored (RFC 9110 §14.1, §14.2); ServeContent knows "bytes=" only and
	// answers anything else 416. More than maxRanges ranges are ignored
	// too (§14.2 allows it): "0-0,0-0,..." would make a multipart answer
	// many times the size of the request.
	if v := r.Header.Get("Range"); !strings.HasPrefix(v, "bytes=") || strings.Count(v, ",") >= maxRanges {
		r2 := *r
		r2.Header = r.Header.Clone()
		if len(v) >= 6 && strings.EqualFold(v[:6], "bytes=") && strings.Count(v, ",") < maxRanges {
			r2.Header.Set("Range", "bytes="+v[6:])
		} else {
			r2.Header.Del("Range")
		}
		r = &r2
	}
	http.ServeContent(w, r, "", modified, bytes.NewReader(body))
}

// maxRanges is the most ranges a range request may name and be served as
// ranges.
const maxRanges = 16

// notModifiedFields are the fields a 304 carries (RFC 9110 §15.4.5), plus
// the cache's own.
var notModifiedFields = map[string]bool{
	"Cache-Control": true, "Content-Location": true, "Date": true, "Etag": true,
	"Expires": true, "Vary": true, "Last-Modified": true, "Age": true,
	"Cache-Status": true, "X-Cache": true,
}

func keepNotModifiedFields(hdr http.Header) {
	for k := range hdr {
		if !notModifiedFields[k] {
			delete(hdr, k)
		}
	}
}

// conditionalWriter answers a client's If-None-Match/If-Modified-Since from
// a full 200 that the cache fetched to store: when the validators match, the
// client gets a 304 and the body is read from the origin (to be stored) but
// not sent.
type conditionalWriter struct {
	http.ResponseWriter
	req         http.Header
	wroteHeader bool
	discard     bool
}

func (c *conditionalWriter) WriteHeader(code int) {
	if c.wroteHeader {
		return
	}
	if code >= 100 && code < 200 {
		c.ResponseWriter.WriteHeader(code)
		return
	}
	c.wroteHeader = true
	hdr := c.ResponseWriter.Header()
	if code == http.StatusOK && httpcache.NotModified(c.req, hdr.Get("Etag"), hdr.Get("Last-Modified"), hdr.Get("Date")) {
		keepNotModifiedFields(hdr)
		c.discard = true
		code = http.StatusNotModified
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *conditionalWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.discard {
		return len(p), nil
	}
	return c.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer (Flush).
func (c *conditionalWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// capture tees an origin body into memory while ReverseProxy streams it to
// the client. When the body ends cleanly (io.EOF) within the size limit,
// done receives it; a body cut short (any other error) or too large is
// never stored.
type capture struct {
	rc    io.ReadCloser
	buf   []byte
	limit int64
	over  bool
	ended bool
	done  func([]byte)
}

func newCapture(rc io.ReadCloser, contentLength, limit int64, done func([]byte)) *capture {
	c := &capture{rc: rc, limit: limit, done: done}
	if contentLength > 0 && contentLength <= limit {
		c.buf = make([]byte, 0, contentLength)
	}
	return c
}

func (c *capture) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 && !c.over {
		if int64(len(c.buf)+n) > c.limit {
			c.over, c.buf = true, nil
		} else {
			c.buf = append(c.buf, p[:n]...)
		}
	}
	if err == io.EOF && !c.ended {
		c.ended = true
		if !c.over {
			if c.buf == nil {
				c.buf = []byte{}
			}
			c.done(c.buf)
		}
	}
	return n, err
}

func (c *capture) Close() error { return c.rc.Close() }

// Cache-Status and X-Cache values.

var (
	xCacheHit    = []string{"HIT"}
	xCacheMiss   = []string{"MISS"}
	xCacheStale  = []string{"STALE"}
	xCacheBypass = []string{"BYPASS"}
)

func xCacheValue(s string) []string {
	switch s {
	case "HIT":
		return xCacheHit
	case "STALE":
		return xCacheStale
	case "BYPASS":
		return xCacheBypass
	}
	return xCacheMiss
}

// xCacheFor maps a Cache-Status fwd reason of a forwarded request to X-Cache.
func xCacheFor(fwd string) []string {
	switch fwd {
	case "bypass", "method", "partial", "request":
		return xCacheBypass
	}
	return xCacheMiss
}

// setStatus sets Cache-Status and X-Cache. A Cache-Status hdr already
// holds is the caches' before this one (a moat or CDN between moat and the
// origin, as the response came or was stored): this cache's member goes
// after theirs, as RFC 9211 §2 says, closest to the client last. The
// X-Cache slices are shared and have len == cap.
func setStatus(hdr http.Header, name string, st httpcache.Status, xcache []string) {
	var buf [128]byte
	b := buf[:0]
	for _, up := range hdr["Cache-Status"] {
		if up = strings.TrimSpace(up); up != "" {
			b = append(append(b, up...), ", "...)
		}
	}
	b = httpcache.AppendCacheStatus(b, name, st)
	hdr["Cache-Status"] = []string{string(b)}
	hdr["X-Cache"] = xcache[:len(xcache):len(xcache)]
}

// ageValues holds the Age field values of the first hour, so most hits
// format no number.
var ageValues = func() [][]string {
	v := make([][]string, 3600)
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

func ageValue(age time.Duration) []string {
	s := int64(age / time.Second)
	if s >= 0 && s < int64(len(ageValues)) {
		return ageValues[s]
	}
	return []string{strconv.FormatInt(max(s, 0), 10)}
}

// bytePool recycles fixed-size byte slices.
type bytePool struct {
	size int
	p    sync.Pool
}

func newBytePool(size int) *bytePool {
	return &bytePool{size: size}
}

func (b *bytePool) get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, b.size)
}

func (b *bytePool) put(buf []byte) {
	if cap(buf) != b.size {
		return
	}
	buf = buf[:b.size]
	b.p.Put(&buf)
}

// maxMemoTTL bounds the memoized hit Cache-Status values (one per TTL
// second), so the memo stays small whatever the TTLs.
const maxMemoTTL = 86400

// hitStatus returns the Cache-Status value of a plain fresh hit with ttl
// seconds left, formatted once per ttl value and shared (len == cap).
func (h *Handler) hitStatus(ttl int64) []string {
	if ttl < 0 || ttl >= maxMemoTTL {
		var buf [64]byte
		return []string{string(httpcache.AppendCacheStatus(buf[:0], h.name, httpcache.Status{Hit: true, TTL: ttl, HasTTL: true}))}
	}
	if v, ok := h.hitMemo.Load(ttl); ok {
		return v.([]string)
	}
	var buf [64]byte
	v := []string{string(httpcache.AppendCacheStatus(buf[:0], h.name, httpcache.Status{Hit: true, TTL: ttl, HasTTL: true}))}
	h.hitMemo.Store(ttl, v)
	return v
}
