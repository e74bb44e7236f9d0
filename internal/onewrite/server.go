package onewrite

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
)

// Configure installs the hooks this package needs on srv, chaining those
// already set: [ConnState], [ConnContext], and [Handler] around srv.Handler
// (http.DefaultServeMux if nil). Call it before Serve; give Serve a
// [Listener].
func Configure(srv *http.Server) {
	prevState := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		ConnState(c, s)
		if prevState != nil {
			prevState(c, s)
		}
	}
	prevContext := srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevContext != nil {
			ctx = prevContext(ctx, c)
		}
		return ConnContext(ctx, c)
	}
	h := srv.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	srv.Handler = Handler(h)
}

// ConnState is the http.Server.ConnState hook. At StateIdle it flushes the
// connection (a fallback: the response normally left when net/http cleared
// the write deadline). Before Hijack returns (StateHijacked) it flushes and
// passes through for good. For a *tls.Conn it holds the connection in
// pass-through from StateNew, and at the first StateActive buffers if the
// negotiated protocol is HTTP/1.x or passes through for good if it is "h2".
// Connections not from a [Listener] are ignored.
func ConnState(c net.Conn, s http.ConnState) {
	oc := connOf(c)
	if oc == nil {
		return
	}
	switch s {
	case http.StateNew:
		if _, ok := c.(*tls.Conn); ok {
			oc.startTLS()
		}
	case http.StateActive:
		// net/http runs no hook for HTTP/2's own StateActive; the HTTP/2
		// server calls it when its first stream opens, after the
		// handshake.
		if tc, ok := c.(*tls.Conn); ok && oc.mode.Load() == modeTLSPending {
			oc.negotiated(tc.ConnectionState().NegotiatedProtocol)
		}
	case http.StateIdle:
		_ = oc.Flush() // kept in the Conn: its next Read fails with it
	case http.StateHijacked:
		oc.passThrough()
	}
}

type connKey struct{}

// ConnContext is the http.Server.ConnContext hook: it records the [Conn] in
// the connection's context for [Handler].
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if oc := connOf(c); oc != nil {
		return context.WithValue(ctx, connKey{}, oc)
	}
	return ctx
}

// connOf finds the *Conn under c, which net/http passes to its hooks as
// the listener returned it.
func connOf(c net.Conn) *Conn {
	switch c := c.(type) {
	case *Conn:
		return c
	case *tls.Conn:
		oc, _ := c.NetConn().(*Conn)
		return oc
	}
	return nil
}

// Handler wraps the outermost handler. For HTTP/1.x requests on a [Conn]
// (found through [ConnContext]) it gives h a ResponseWriter whose Flush and
// FlushError also flush the connection, so a streamed chunk is not held
// until the handler returns. Inner middleware reaches it through Unwrap, as
// http.ResponseController does; Hijack passes through.
//
// WARNING: it must be the outermost handler. Flush on a ResponseWriter
// outside it reaches only net/http's buffers, and the chunk waits in the
// connection until the handler returns.
func Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(connKey{}).(*Conn)
		if c == nil || r.ProtoMajor != 1 {
			h.ServeHTTP(w, r)
			return
		}
		if r.Body == http.NoBody {
			// No body: every Read until the handler returns is net/http's
			// background read (see Conn.Read).
			c.serving.Store(true)
			defer c.serving.Store(false)
		}
		h.ServeHTTP(&responseWriter{ResponseWriter: w, conn: c}, r)
	})
}

// AppendResponse answers r on w with a whole HTTP/1.1 response that build
// appends, status line, header and body, to the connection's buffer (its
// argument has the buffer's free space as capacity; build may outgrow it,
// at the cost of a copy of the whole response), bypassing net/http's
// header map: a stored response is sent without copying its fields into a
// map, cloning and sorting them. It reports false, having done nothing,
// when w is not the ResponseWriter of [Handler] itself (a wrapper may need
// to see what is written) on a plaintext HTTP/1.x connection, or when
// build returns an empty slice (it refuses: say, a body that does not fit
// the free space, which net/http writes without copying it); then the
// caller answers through w as usual.
//
// It also reports false once w.Header() has been called: fields set there
// would not be sent. After it returns true the handler must return without
// writing to w or calling WriteHeader or Header: net/http then
// writes an empty 200 answer with "Content-Length: 0", which the connection
// drops. Anything else it writes ends the connection, as a second answer
// would corrupt it. The caller is responsible for what net/http would do:
// only valid field names and values without CR or LF, a Date and a
// Content-Length, and for requests that net/http would keep alive without
// a Connection field in its answer (HTTP/1.1, no "Connection: close", no
// request body).
func AppendResponse(w http.ResponseWriter, build func(dst []byte) []byte) bool {
	rw, ok := w.(*responseWriter)
	return ok && !rw.touched && rw.conn.appendResponse(build)
}

// Flush sends the response written so far to the client, headers and body
// in one write, under the write deadline. w must be, or unwrap to, the
// ResponseWriter of [Handler]; otherwise only net/http's buffers are flushed
// and the connection sends when the handler returns. A handler that wrote a
// whole cached response calls it to send it now. Set Content-Length before:
// flushing a response without it switches it to chunked encoding.
func Flush(w http.ResponseWriter) error {
	return http.NewResponseController(w).Flush()
}

type responseWriter struct {
	http.ResponseWriter
	conn    *Conn
	touched bool // Header was called: fields may be set that AppendResponse would lose
}

// Header notes that the handler may have set fields.
func (w *responseWriter) Header() http.Header {
	w.touched = true
	return w.ResponseWriter.Header()
}

func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *responseWriter) Flush() { _ = w.FlushError() }

func (w *responseWriter) FlushError() error {
	var err error
	if f, ok := w.ResponseWriter.(interface{ FlushError() error }); ok {
		err = f.FlushError()
	} else {
		err = http.NewResponseController(w.ResponseWriter).Flush()
	}
	if err != nil {
		return err
	}
	return w.conn.Flush()
}

func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.conn.passThrough() // ConnState did it too if installed
	}
	return c, rw, err
}

// ReadFrom keeps net/http's sendfile path for io.Copy(w, file).
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{w.ResponseWriter}, r)
}

var (
	_ http.Flusher  = (*responseWriter)(nil)
	_ http.Hijacker = (*responseWriter)(nil)
	_ io.ReaderFrom = (*responseWriter)(nil)
)
