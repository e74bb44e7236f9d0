package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
)

// Middleware is the engine as net/http middleware: Wrap caches the wrapped
// handler's responses with everything the proxy does (routes, keys,
// scopes, stale serving, tags, invalidation after writes, Cache-Status, L2,
// the bus, the Observer's metrics). The wrapped handler is the origin,
// called in process instead of over HTTP; what it marks private or
// no-store is never stored, and large responses stream to the client as
// it writes them (see streamAfter).
//
// One Middleware is one cache: every handler it wraps shares it (keys
// carry the path, so they do not meet), and it is safe to Wrap per request,
// as gorilla/mux does with its middlewares. Purge, Stats and Close are the
// engine's (Handler).
type Middleware struct {
	*Handler
}

// NewMiddleware returns a Middleware. o.Origin is not needed (each request
// keeps its Host, as with PreserveHost) and o.Transport is not used; the
// other Options mean what they mean for New.
func NewMiddleware(o Options) (*Middleware, error) {
	o.Origin = middlewareOrigin
	o.PreserveHost = true
	o.Transport = handlerTransport{}
	h, err := New(o)
	if err != nil {
		return nil, err
	}
	return &Middleware{h}, nil
}

// Wrap returns next with the cache in front of it: a
// func(http.Handler) http.Handler for any router (mux.Use, chi's r.Use).
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), wrappedKey{}, next)))
	})
}

// wrappedKey carries the wrapped handler in the request's context to
// handlerTransport (background refreshes keep the context's values).
type wrappedKey struct{}

// middlewareOrigin stands for the wrapped handler in the engine's origin
// requests: no request leaves the process.
var middlewareOrigin = &url.URL{Scheme: "http", Host: "moat.app.internal"}

// handlerTransport is an http.RoundTripper that serves a request with the
// http.Handler its context carries (see Wrap), in the same process: the engine's origin requests reach the
// wrapped handler as a server request would (RequestURI, Host, the
// request's context and its values), and its response streams back through
// a pipe, so the engine reads it while the handler writes.
type handlerTransport struct{}

func (handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next, _ := req.Context().Value(wrappedKey{}).(http.Handler)
	if next == nil {
		return nil, errors.New("gateway: a middleware request without its handler")
	}
	in := req.Clone(req.Context())
	in.RequestURI = in.URL.RequestURI()
	in.URL.Scheme, in.URL.Host = "", ""
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if p := recover(); p != nil {
				err := fmt.Errorf("gateway: the wrapped handler panicked: %v\n%s", p, debug.Stack())
				if p == http.ErrAbortHandler {
					err = http.ErrAbortHandler
				}
				w.fail(err)
				return
			}
			w.finish()
		}()
		next.ServeHTTP(w, in)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	resp := &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.sent,
		Body:          pr,
		ContentLength: -1,
		Request:       req,
	}
	if cl, err := strconv.ParseInt(w.sent.Get("Content-Length"), 10, 64); err == nil && cl >= 0 {
		resp.ContentLength = cl
	}
	if req.Method == http.MethodHead || w.status == http.StatusNoContent || w.status == http.StatusNotModified {
		pr.Close()
		resp.Body = http.NoBody
		resp.ContentLength = 0
	}
	return resp, nil
}

// pipeWriter is the ResponseWriter the wrapped handler writes to.
type pipeWriter struct {
	header http.Header
	pw     *io.PipeWriter

	once   sync.Once
	ready  chan struct{} // closed when the header is sent (or the handler failed before)
	status int
	sent   http.Header // the header as sent
	err    error       // the handler failed before sending a header
}

func (w *pipeWriter) Header() http.Header { return w.header }

func (w *pipeWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		return // informational answers are not passed on
	}
	w.once.Do(func() {
		w.status, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush implements http.Flusher: the pipe hands every write on at once.
func (w *pipeWriter) Flush() { w.WriteHeader(http.StatusOK) }

func (w *pipeWriter) finish() {
	w.WriteHeader(http.StatusOK)
	w.pw.Close()
}

func (w *pipeWriter) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.ready)
	})
	w.pw.CloseWithError(err) // a body cut short is never stored
}

var _ http.Flusher = (*pipeWriter)(nil)
