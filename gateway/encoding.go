package gateway

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/compress"
	"github.com/moatproxy/moat/internal/httpcache"
)

// Accept-Encoding never splits the cache: fills ask the origin for an
// encoding the transport decodes itself (so the body arrives as identity),
// each compressible entry is stored once in the coding most recent clients
// accept (compress.Mix), hits in that coding go out as stored, and clients
// that do not accept it get the body decoded on the fly. Every such
// response says Vary: Accept-Encoding.

// observeEncoding feeds the client's Accept-Encoding to the mix that picks
// the coding new entries are stored in.
func (h *Handler) observeEncoding(r *http.Request) {
	if h.mix != nil {
		h.mix.Observe(compress.AcceptEncoding(r.Header))
	}
}

// encodeEntry compresses e's body in the chosen coding when that is worth
// it: a 200 of a compressible type, no Content-Encoding of the origin's, no
// no-transform (RFC 9110 §7.7), and a result smaller than the input.
func (h *Handler) encodeEntry(e *cache.Entry, d httpcache.ResponseDirectives) {
	if h.mix == nil || e.Status != http.StatusOK || d.NoTransform {
		return
	}
	if _, coded := e.Header["Content-Encoding"]; coded {
		return
	}
	if !compress.Compressible(e.Header.Get("Content-Type"), len(e.Body)) {
		return
	}
	enc := h.mix.Choose()
	if enc == compress.Identity {
		return
	}
	out, err := compress.Encode(enc, e.Body)
	if err != nil || len(out) >= len(e.Body) {
		return
	}
	e.IdentitySize = len(e.Body)
	e.Body = out
	e.Coding = enc.String()
	e.Header["Content-Encoding"] = []string{e.Coding}
	weakenETag(e.Header)
	delete(e.Header, "Content-Digest")
	delete(e.Header, "Repr-Digest")
	compress.AddVary(e.Header)
}

// weakenETag marks a strong ETag weak: a transformed representation is not
// byte-identical to the origin's (RFC 9110 §8.8.1).
func weakenETag(h http.Header) {
	if et := h.Get("Etag"); et != "" && !strings.HasPrefix(et, "W/") {
		h["Etag"] = []string{"W/" + et}
	}
}

// acceptsStored reports whether a client may receive e's body as stored.
func acceptsStored(r *http.Request, e *cache.Entry) bool {
	if e.Coding == "" {
		return true
	}
	enc, ok := compress.ParseEncoding(e.Coding)
	return ok && compress.Accepts(compress.AcceptEncoding(r.Header), enc)
}

// writeDecoded writes e's body decoded for a client that does not accept
// its coding; the caller has set the header fields except the
// representation ones, which this fixes. The body is decoded into a pooled
// buffer and written in one Write: io.Copy into a ResponseWriter would go
// through its ReadFrom, which flushes the header on its own and allocates
// a copy buffer per response.
func writeDecoded(w http.ResponseWriter, r *http.Request, e *cache.Entry) {
	hdr := w.Header()
	delete(hdr, "Content-Encoding")
	hdr["Content-Length"] = []string{strconv.Itoa(e.IdentitySize)}
	if r.Method == http.MethodHead {
		w.WriteHeader(e.Status)
		return
	}
	enc, _ := compress.ParseEncoding(e.Coding)
	dec, err := compress.NewDecoder(enc, bytes.NewReader(e.Body))
	if err != nil {
		panic(http.ErrAbortHandler) // a stored body that does not decode: abort, never send a wrong one
	}
	defer dec.Close()
	buf := decodeBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 1<<20 { // do not keep a large body's buffer alive in the pool
			decodeBuffers.Put(buf)
		}
	}()
	buf.Reset()
	buf.Grow(e.IdentitySize)
	if _, err := buf.ReadFrom(io.LimitReader(dec, int64(e.IdentitySize)+1)); err != nil || buf.Len() != e.IdentitySize {
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(e.Status)
	_, _ = w.Write(buf.Bytes())
}

// decodeBuffers recycle the buffers hits are decoded into.
var decodeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// decodedBody returns e's body as identity, for answering through
// ReverseProxy (answerWith) a client that does not accept its coding.
func decodedBody(e *cache.Entry) ([]byte, bool) {
	enc, ok := compress.ParseEncoding(e.Coding)
	if !ok {
		return nil, false
	}
	b, err := compress.Decode(enc, e.Body, int64(e.IdentitySize)+1)
	return b, err == nil
}
