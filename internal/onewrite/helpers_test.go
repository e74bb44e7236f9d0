package onewrite

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// body returns n deterministic bytes that differ with seed, so a
// misplaced or duplicated byte shows.
func body(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (i*7+seed+i/251)%26)
	}
	return b
}

// cachedHandler writes a response as a cache hit does: stored headers with
// Content-Length, the whole body, then Flush unless ?flush=0.
func cachedHandler(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	seed, _ := strconv.Atoi(r.URL.Query().Get("seed"))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(n))
	h.Set("ETag", `"v1"`)
	h.Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body(n, seed))
	if r.URL.Query().Get("flush") != "0" {
		_ = Flush(w)
	}
}

// streamHandler writes ?n= bytes without Content-Length (chunked), in
// pieces of ?piece= bytes, flushing after each when ?flush=1.
func streamHandler(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	seed, _ := strconv.Atoi(r.URL.Query().Get("seed"))
	piece, _ := strconv.Atoi(r.URL.Query().Get("piece"))
	if piece <= 0 {
		piece = 8 << 10
	}
	b := body(n, seed)
	for len(b) > 0 {
		k := min(piece, len(b))
		if _, err := w.Write(b[:k]); err != nil {
			return
		}
		b = b[k:]
		if r.URL.Query().Get("flush") == "1" {
			_ = Flush(w)
		}
	}
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/obj", cachedHandler)
	mux.HandleFunc("/stream", streamHandler)
	mux.HandleFunc("/echo", echoHandler)
	mux.HandleFunc("/ignore", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	return mux
}

type testServer struct {
	*httptest.Server
	writes atomic.Int64 // write and writev calls on the raw connections
}

// startServer serves h on 127.0.0.1, through a Listener and Configure when
// wrap is set, else through plain net/http; both count raw writes.
func startServer(t testing.TB, h http.Handler, wrap bool, tlsMode string) *testServer {
	t.Helper()
	s := &testServer{Server: httptest.NewUnstartedServer(h)}
	if wrap {
		s.Listener = &Listener{Listener: s.Listener, countWrite: func() { s.writes.Add(1) }}
		Configure(s.Config)
	} else {
		s.Listener = &countingListener{Listener: s.Listener, writes: &s.writes}
	}
	switch tlsMode {
	case "":
		s.Start()
	case "h2":
		s.EnableHTTP2 = true
		s.StartTLS()
	case "http/1.1":
		// No session tickets: their post-handshake write would race with
		// the counting of the responses' writes.
		s.TLS = &tls.Config{SessionTicketsDisabled: true}
		s.StartTLS()
	}
	t.Cleanup(s.Close)
	return s
}

type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, writes: l.writes}, nil
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// rawConn is a client socket whose reads fail after 10 s instead of
// hanging a test when the server holds bytes back.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, s *testServer) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

func (c *rawConn) send(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatal(err)
	}
}

// response reads one response to a request with method, and its body.
func (c *rawConn) response(t testing.TB, method string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		t.Fatalf("reading response to %s: %v", method, err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading body of response to %s: %v", method, err)
	}
	resp.Body.Close()
	return resp, b
}

// expectEOF checks that the server closed the connection.
func (c *rawConn) expectEOF(t testing.TB) {
	t.Helper()
	if b, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("after the last response: got byte %q, err %v; want io.EOF", b, err)
	}
}

func checkBody(t testing.TB, got []byte, n, seed int) {
	t.Helper()
	if want := body(n, seed); !bytes.Equal(got, want) {
		t.Fatalf("body: got %d bytes, want %d bytes of seed %d (equal lengths: %v)", len(got), n, seed, len(got) == n)
	}
}

// get fetches url with client and returns the body.
func get(t testing.TB, client *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
