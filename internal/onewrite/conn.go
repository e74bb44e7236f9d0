package onewrite

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// bufferSize holds a 16 KiB cached response with room for its headers
	// and for a TLS record's overhead. A larger write is not copied: it
	// leaves at once with the buffered bytes in one writev.
	bufferSize = 32 << 10

	// defaultFlushTimeout bounds a flush that runs with no write deadline
	// set (Listener.FlushTimeout's zero value).
	defaultFlushTimeout = 30 * time.Second
)

// bufferPool lends a Conn its buffer from the first buffered write to the
// flush, so idle keep-alive connections hold no buffer.
var bufferPool = sync.Pool{New: func() any { return new([bufferSize]byte) }}

// Modes of a Conn, in Conn.mode.
const (
	modeBuffer     int32 = iota // coalesce writes
	modeTLSPending              // TLS: pass through until ConnState learns the protocol
	modePass                    // pass through for good: Hijack, HTTP/2
)

// h2Preface starts a cleartext HTTP/2 connection with prior knowledge
// (RFC 9113 §3.4); "PRI" is no HTTP/1.x method a client sends.
const h2Preface = "PRI "

// Conn is a connection accepted by a [Listener]: its writes are coalesced in
// a pooled buffer and leave in one write(2), or one writev(2) when a write
// does not fit (see the package comment for when it flushes).
//
// Concurrency: net/http writes from the handler's goroutine while its
// background read blocks in Read on another; mu guards the buffer and is held
// across a flush's write so that bytes keep their order, but never across a
// Read. A flush triggered by SetWriteDeadline, SetDeadline or Close does not
// wait for mu: those calls may be made to interrupt a write blocked under it.
type Conn struct {
	raw          net.Conn
	flushTimeout time.Duration // < 0: no bound
	countWrite   func()        // test hook: one call per write or writev on raw

	mode    atomic.Int32
	sniffed atomic.Bool // the first bytes read have been classified
	closed  atomic.Bool
	// serving: a handler answers a request without a body (set by
	// [Handler]): a Read now is net/http's background read, which the peer
	// does not wait on, so it does not flush a response half written.
	serving atomic.Bool

	mu       sync.Mutex
	buf      *[bufferSize]byte // nil when nothing is buffered
	n        int               // bytes buffered in buf
	err      error             // first write error; later writes fail with it
	tls      bool              // under a *tls.Conn: its writes are records, not HTTP
	swallow  bool              // drop net/http's empty answer to a request answered by AppendResponse
	appended int               // 1 + offset in buf of the answer appendResponse buffered; 0: none (or sent)
	head     [len(h2Preface)]byte
	nh       int // bytes of head seen by the sniffer

	dmu      sync.Mutex // guards deadline; never held across I/O
	deadline time.Time  // the write deadline set by Conn's user
}

func newConn(raw net.Conn, flushTimeout time.Duration, countWrite func()) *Conn {
	if flushTimeout == 0 {
		flushTimeout = defaultFlushTimeout
	}
	return &Conn{raw: raw, flushTimeout: flushTimeout, countWrite: countWrite}
}

// Write buffers p, or sends the buffered bytes and p in one writev when p
// does not fit. After a write error it returns that error.
func (c *Conn) Write(p []byte) (int, error) {
	if c.mode.Load() != modeBuffer {
		return c.raw.Write(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode.Load() != modeBuffer { // switched while we waited
		return c.raw.Write(p)
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closed.Load() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: net.ErrClosed}
	}
	if c.swallow {
		return c.dropEmptyAnswer(p)
	}
	if c.n+len(p) <= bufferSize {
		if c.buf == nil {
			c.buf = bufferPool.Get().(*[bufferSize]byte)
		}
		c.n += copy(c.buf[c.n:], p)
		return len(p), nil
	}
	if c.n == 0 {
		n, err := c.send(p, nil)
		return int(n), err
	}
	buffered := c.n
	n, err := c.send(c.buf[:c.n], p)
	c.release()
	return max(0, int(n)-buffered), err
}

// errUnexpectedAnswer ends a connection whose handler answered a request
// both through AppendResponse and through net/http.
var errUnexpectedAnswer = errors.New("onewrite: net/http wrote more than an empty answer after AppendResponse; connection closed")

// appendResponse adds a whole HTTP/1.1 response, built by build into the
// buffer's free space, and drops net/http's own answer to the same request
// (see [AppendResponse]). It reports false, having done nothing, when the
// connection does not carry plaintext HTTP/1.x through the buffer or build
// returns nothing.
func (c *Conn) appendResponse(build func(dst []byte) []byte) bool {
	if c.mode.Load() != modeBuffer {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode.Load() != modeBuffer || c.tls || c.swallow || c.err != nil || c.closed.Load() {
		return false
	}
	if c.buf == nil {
		c.buf = bufferPool.Get().(*[bufferSize]byte)
	}
	out := build(c.buf[c.n:c.n:bufferSize])
	if len(out) == 0 {
		// Refused (what build wrote past c.n is not counted).
		if c.n == 0 {
			c.release() // an idle connection holds no buffer
		}
		return false
	}
	if len(out) <= bufferSize-c.n && &out[0] == &c.buf[c.n] {
		c.appended = c.n + 1
		c.n += len(out)
	} else {
		// It outgrew the free space (append moved it): send what is
		// buffered and the response in one writev.
		_, err := c.send(c.buf[:c.n], out)
		c.release()
		if err != nil {
			return true // the answer is lost with the connection, as any write's
		}
	}
	c.swallow = true
	return true
}

// dropEmptyAnswer takes net/http's answer to a request answered by
// appendResponse: a status line and header with "Content-Length: 0" and no
// body, written in one piece by its connection buffer. Anything else would
// put a second answer on the connection, so the connection ends; c.mu is
// held.
func (c *Conn) dropEmptyAnswer(p []byte) (int, error) {
	c.swallow = false
	if bytes.HasPrefix(p, []byte("HTTP/1.")) && bytes.HasSuffix(p, []byte("\r\n\r\n")) &&
		bytes.Contains(p, []byte("\r\nContent-Length: 0\r\n")) && bytes.Count(p, []byte("\r\n\r\n")) == 1 {
		if bytes.Contains(p, []byte("\r\nConnection: close\r\n")) {
			c.addConnectionClose()
		}
		c.appended = 0
		return len(p), nil
	}
	_ = c.flushLocked()
	c.err = errUnexpectedAnswer
	_ = c.raw.Close()
	return 0, c.err
}

// addConnectionClose puts "Connection: close" into the header of the
// answer appendResponse buffered: net/http closes the connection after
// this request although the request did not ask it to (Server.Shutdown
// under way, keep-alives disabled), and said so in the answer it wrote,
// which was dropped; the client must learn it from the appended one (RFC
// 9112 §9.6). An answer that has left already cannot get it (it outgrew
// the buffer): the client then finds the connection closed, as net/http
// itself allows for a request that was answered before Shutdown began.
// c.mu is held.
func (c *Conn) addConnectionClose() {
	const field = "Connection: close\r\n"
	if c.appended == 0 || c.n+len(field) > bufferSize {
		return
	}
	start := c.appended - 1
	i := bytes.Index(c.buf[start:c.n], []byte("\r\n\r\n"))
	if i < 0 {
		return
	}
	at := start + i + 2 // after the last field line's CRLF
	copy(c.buf[at+len(field):c.n+len(field)], c.buf[at:c.n])
	copy(c.buf[at:], field)
	c.n += len(field)
}

// Flush sends what is buffered. It returns the connection's first write
// error, if any, even when nothing was buffered.
func (c *Conn) Flush() error {
	if c.mode.Load() != modeBuffer {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// flushLocked sends the buffer; c.mu must be held.
func (c *Conn) flushLocked() error {
	if c.err != nil {
		return c.err
	}
	if c.n == 0 {
		return nil
	}
	_, err := c.send(c.buf[:c.n], nil)
	c.release()
	return err
}

// tryFlush flushes unless another goroutine holds c.mu: that one is writing
// or flushing already, possibly blocked, and the caller may be the one
// about to unblock it (a deadline in the past, Close).
func (c *Conn) tryFlush() {
	if c.mode.Load() != modeBuffer || !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	_ = c.flushLocked() // kept in c.err: the next Write, Flush or Read reports it
}

func (c *Conn) release() {
	if c.buf != nil {
		bufferPool.Put(c.buf)
	}
	c.buf, c.n, c.appended = nil, 0, 0
}

// send writes a, then b if not nil, in one write or writev, under a write
// deadline; c.mu must be held. An error is remembered in c.err.
func (c *Conn) send(a, b []byte) (int64, error) {
	temporary := c.boundWrite()
	if c.countWrite != nil {
		c.countWrite()
	}
	var n int64
	var err error
	if b == nil {
		var m int
		m, err = c.raw.Write(a)
		n = int64(m)
	} else {
		bufs := net.Buffers{a, b}
		n, err = bufs.WriteTo(c.raw) // writev(2) on a *net.TCPConn
	}
	if temporary {
		c.dmu.Lock()
		if c.deadline.IsZero() {
			_ = c.raw.SetWriteDeadline(time.Time{})
		}
		c.dmu.Unlock()
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// boundWrite sets a write deadline of flushTimeout from now if none is set,
// and reports whether it did. net/http clears the deadline before StateIdle
// and Close, and without WriteTimeout never sets one: a flush there must
// not block forever on a peer that stopped reading.
func (c *Conn) boundWrite() bool {
	if c.flushTimeout < 0 {
		return false
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if !c.deadline.IsZero() {
		return false
	}
	_ = c.raw.SetWriteDeadline(time.Now().Add(c.flushTimeout))
	return true
}

// Read flushes, since the peer may wait for what is buffered before it
// sends more (keep-alive, pipelining, Expect: 100-continue, TLS handshake),
// then reads. A flush error is returned instead of reading.
//
// While a handler answers a request without a body it does not flush:
// net/http starts its background read of the next request in a goroutine
// before the handler runs, and that goroutine may reach Read only once the
// handler has written part of its response; flushing then would send the
// response in two writes. Nothing the peer waits for is buffered then: the
// response leaves when net/http clears the write deadline after it.
func (c *Conn) Read(p []byte) (int, error) {
	if c.mode.Load() == modeBuffer && !c.serving.Load() {
		if err := c.flushBeforeRead(); err != nil {
			return 0, err
		}
	}
	n, err := c.raw.Read(p)
	if n > 0 && !c.sniffed.Load() {
		c.sniff(p[:n])
	}
	return n, err
}

// flushBeforeRead is Flush, except while an answer of appendResponse waits
// for net/http's empty one (swallow): net/http's background read of the
// next request may reach Read after the handler appended its answer, and
// the answer stays in the buffer until net/http has written (see
// addConnectionClose); it leaves when net/http clears the write deadline
// right after, or at StateIdle.
func (c *Conn) flushBeforeRead() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mode.Load() != modeBuffer { // switched while we waited
		return nil
	}
	if c.swallow || c.serving.Load() {
		// serving again under mu: a background read that passed Read's
		// check before the handler started, and waited here while the
		// handler buffered, must not flush what it buffered.
		return c.err
	}
	return c.flushLocked()
}

// sniff classifies the connection by its first bytes: a TLS handshake
// record (type 22, RFC 8446 §5.1) waits in pass-through for ConnState to
// learn the protocol; the HTTP/2 preface passes through for good.
func (c *Conn) sniff(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sniffed.Load() {
		return
	}
	c.nh += copy(c.head[c.nh:], p)
	head := string(c.head[:c.nh])
	switch {
	case head[0] == 0x16:
		c.mode.CompareAndSwap(modeBuffer, modeTLSPending)
	case head == h2Preface[:len(head)]:
		if len(head) < len(h2Preface) {
			return // undecided: wait for more bytes
		}
		c.passLocked()
	}
	c.sniffed.Store(true)
}

// passThrough flushes and stops buffering for good.
func (c *Conn) passThrough() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.passLocked()
}

func (c *Conn) passLocked() {
	if c.mode.Load() == modeBuffer {
		_ = c.flushLocked() // kept in c.err
	}
	c.mode.Store(modePass)
}

// startTLS holds a TLS connection in pass-through until negotiated.
func (c *Conn) startTLS() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tls = true
	if c.mode.Load() == modeBuffer {
		_ = c.flushLocked()
		c.mode.Store(modeTLSPending)
	}
}

// negotiated ends a TLS connection's wait: HTTP/1.x buffers, "h2" passes
// through for good.
func (c *Conn) negotiated(proto string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if proto == "h2" {
		c.mode.CompareAndSwap(modeTLSPending, modePass)
	} else {
		c.mode.CompareAndSwap(modeTLSPending, modeBuffer)
	}
}

// SetWriteDeadline first flushes what is buffered, so bytes leave under
// the deadline in force when they were written: net/http clears the
// deadline right after a response, and this sends the response in one
// write under WriteTimeout. A flush error is kept for the next Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.tryFlush()
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.deadline = t
	return c.raw.SetWriteDeadline(t)
}

// SetDeadline flushes like SetWriteDeadline, then sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.tryFlush()
	c.dmu.Lock()
	defer c.dmu.Unlock()
	c.deadline = t
	return c.raw.SetDeadline(t)
}

// SetReadDeadline sets the read deadline of the underlying connection.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.raw.SetReadDeadline(t) }

// LocalAddr returns the local address of the underlying connection.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// RemoteAddr returns the remote address of the underlying connection.
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// Close flushes, bounded by the write deadline or the Listener's
// FlushTimeout, and closes. If a write is under way on another goroutine it
// closes at once, as a Close from another goroutine means to.
func (c *Conn) Close() error {
	if !c.closed.Swap(true) {
		c.tryFlush()
	}
	return c.raw.Close()
}

// CloseWrite flushes and shuts down the writing side of the connection
// (net/http does so before closing after an unread request body).
func (c *Conn) CloseWrite() error {
	if err := c.Flush(); err != nil {
		return err
	}
	cw, ok := c.raw.(interface{ CloseWrite() error })
	if !ok {
		return errors.ErrUnsupported
	}
	return cw.CloseWrite()
}

// ReadFrom keeps sendfile(2) and splice(2) for files and sockets: it
// flushes and lets the underlying connection copy in the kernel. Other
// readers are copied through Write, so a small body joins its headers.
// net/http calls it for io.Copy(w, r) bodies.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.raw.(io.ReaderFrom); ok && (c.mode.Load() != modeBuffer || kernelCopies(r)) {
		if err := c.Flush(); err != nil {
			return 0, err
		}
		return rf.ReadFrom(r)
	}
	buf := bufferPool.Get().(*[bufferSize]byte)
	defer bufferPool.Put(buf)
	return io.CopyBuffer(writerOnly{c}, r, buf[:])
}

// kernelCopies reports whether a *net.TCPConn copies from r in the kernel.
func kernelCopies(r io.Reader) bool {
	if lr, ok := r.(*io.LimitedReader); ok {
		r = lr.R
	}
	switch r.(type) {
	case *os.File, *net.TCPConn, *net.UnixConn:
		return true
	}
	return false
}

// writerOnly hides a ReadFrom method from io.Copy.
type writerOnly struct{ io.Writer }

var (
	_ net.Conn      = (*Conn)(nil)
	_ io.ReaderFrom = (*Conn)(nil)
)
