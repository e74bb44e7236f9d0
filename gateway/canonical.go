package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/policy"
)

// One normalized request decides everything (docs/security.md): the route
// is matched, the key is built and the origin request is made from the
// request canonical returns, never from the one that arrived. Were the
// route matched on the raw path while the key and the origin used the
// normalized one, "/static/.%2e/account" would match a static route, reach
// the origin as "/account" and be stored under the key of "/account".

// Refusal reasons (Cache-Status detail of a 400).
const refuseAmbiguousPath = "ambiguous-path"

// canonical returns r with its path canonicalized (escapes, dot segments,
// optionally slashes: cachekey.Normalizer.Path) and its host spelled as
// keys spell it (cachekey.Host), or the reason r is refused. r itself is
// not modified; a copy is made only when something changes.
func (h *Handler) canonical(r *http.Request) (*http.Request, string) {
	path, pathChanged := h.norm.Path(r.URL)
	if cachekey.Ambiguous(path) {
		return r, refuseAmbiguousPath
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := cachekey.Host(scheme, r.Host)
	if h.keyHost != "" {
		host = h.keyHost
	} else if canon, ok := h.hostAliases[host]; ok {
		host = canon
	}
	if !pathChanged && host == r.Host {
		return r, ""
	}
	c := *r
	c.Host = host
	if pathChanged {
		u := *r.URL
		cachekey.SetPathQuery(&u, path, r.URL.RawQuery)
		u.ForceQuery = r.URL.ForceQuery
		c.URL = &u
		c.RequestURI = u.RequestURI()
	}
	return &c, ""
}

// refuse answers a request moat will not forward with 400.
func (h *Handler) refuse(w http.ResponseWriter, reason string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Connection", "close")
	setStatus(hdr, h.name, httpcache.Status{Fwd: "bypass", Detail: reason}, xCacheBypass)
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, "moat: bad request ("+reason+")\n")
	h.stats.ClientErrors.Add(1)
}

// headerFilter removes request header fields that origins honour but keys
// do not carry (cachekey.UnkeyedHeaders, or Options.StripHeaders) and,
// unless allowed, every field whose name holds '_': frameworks that fold
// '_' into '-' would read "X_Forwarded_Host" as the X-Forwarded-Host moat
// sets. A route that varies on such a field keeps it, since it is keyed.
type headerFilter struct {
	names      map[string]bool // canonical names
	underscore bool            // keep fields whose name holds '_'
}

func newHeaderFilter(names []string, allowUnderscore bool) *headerFilter {
	f := &headerFilter{names: make(map[string]bool, len(names)), underscore: allowUnderscore}
	for _, n := range names {
		n = http.CanonicalHeaderKey(n)
		if n == "" {
			continue
		}
		f.names[n] = true
	}
	return f
}

// strip removes the filtered fields from hdr, in place.
func (f *headerFilter) strip(hdr http.Header, pol *policy.Policy) {
	for k := range hdr {
		drop := f.names[k] || (!f.underscore && strings.IndexByte(k, '_') >= 0)
		if drop && (pol == nil || !slices.Contains(pol.Vary, k)) {
			delete(hdr, k)
		}
	}
}

// dropNominated removes the fields the Connection field names (RFC 9110
// §7.6.1) now, before the key is built and the caller identified:
// ReverseProxy drops them on the way to the origin, so "Connection:
// Accept-Language" would otherwise store the origin's default-language
// answer under the key of the client's language, and "Connection:
// X-API-Key" an anonymous answer under the premium tier's key. Upgrade is
// kept: ReverseProxy forwards protocol upgrades itself.
func dropNominated(hdr http.Header) {
	for _, line := range hdr["Connection"] {
		for _, name := range strings.Split(line, ",") {
			name = http.CanonicalHeaderKey(textproto.TrimString(name))
			if name != "" && name != "Upgrade" && name != "Connection" {
				delete(hdr, name)
			}
		}
	}
}

// invalidates reports whether a successful answer to method makes stored
// responses of its target stale (RFC 9111 §4.4). The RFC includes methods
// whose safety is unknown; moat does not: "PURGE /x" or "FOO /x" from any
// client would otherwise evict what they name. Purges go through the admin
// API, which is authenticated.
func invalidates(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// clientBody wraps a request body on its way to the origin: it bounds the
// wait between two reads (ClientBodyTimeout, like nginx's
// client_body_timeout), and it remembers a failure to read it, so that a
// client's malformed or stalled upload is answered 400 or 408 and counted
// as the client's error, not as the origin's 502.
type clientBody struct {
	rc      io.ReadCloser
	ctl     *http.ResponseController
	ctx     context.Context // the client request's: done once the handler returned
	timeout time.Duration

	mu  sync.Mutex
	err error // first read error other than io.EOF
}

func (b *clientBody) Read(p []byte) (int, error) {
	// ReverseProxy's transport may read after the handler returned; the
	// connection may then serve the next request, whose deadlines are the
	// server's, not ours.
	deadlines := b.timeout > 0 && b.ctx.Err() == nil
	if deadlines {
		_ = b.ctl.SetReadDeadline(time.Now().Add(b.timeout))
	}
	n, err := b.rc.Read(p)
	if err != nil {
		if deadlines {
			// No deadline must outlive the body: the server's background
			// read of the connection would take it for a dead client.
			_ = b.ctl.SetReadDeadline(time.Time{})
		}
		if err != io.EOF {
			b.mu.Lock()
			if b.err == nil {
				b.err = err
			}
			b.mu.Unlock()
		}
	}
	return n, err
}

func (b *clientBody) Close() error { return b.rc.Close() }

// failure returns the status a failed read of the body calls for (408 for
// a timeout, 400 otherwise), or 0 if reading it did not fail.
func (b *clientBody) failure() int {
	b.mu.Lock()
	err := b.err
	b.mu.Unlock()
	if err == nil {
		return 0
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// clientBodyFailure returns the status for the failed body of the client
// request forwarded under ctx, or 0. (ReverseProxy hands its hooks the
// outgoing request, whose body wraps the client's.)
func clientBodyFailure(ctx context.Context) int {
	if p, ok := ctx.Value(passKey{}).(*pass); ok && p.in != nil {
		if b, ok := p.in.Body.(*clientBody); ok {
			return b.failure()
		}
	}
	return 0
}

// guard prepares a canonical request for the rest of the handler: the
// fields its Connection field names removed (see dropNominated), its body
// (if any) wrapped in a clientBody, and,
// for a chunked HTTP/1 request, the connection marked to close after the
// answer: net/http drops a Content-Length sent beside Transfer-Encoding
// before a handler can see it, and RFC 9112 §6.1 requires closing the
// connection after such a request, or bytes smuggled after the chunked
// body would be read as the next request.
func (h *Handler) guard(w http.ResponseWriter, r *http.Request) {
	dropNominated(r.Header)
	if r.ProtoMajor == 1 && len(r.TransferEncoding) > 0 {
		w.Header().Set("Connection", "close")
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		r.Body = &clientBody{rc: r.Body, ctl: http.NewResponseController(w), ctx: r.Context(), timeout: h.bodyTimeout}
	}
}

// clientFailed answers a request whose body could not be read from the
// client.
func (h *Handler) clientFailed(w http.ResponseWriter, status int) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/plain; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("Connection", "close")
	detail, msg := "request-body", "moat: malformed request body\n"
	if status == http.StatusRequestTimeout {
		detail, msg = "request-body-timeout", "moat: request body timed out\n"
	}
	setStatus(hdr, h.name, httpcache.Status{Fwd: "bypass", Detail: detail}, xCacheBypass)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
	h.stats.ClientErrors.Add(1)
}
