package onewrite

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// appendHandler answers /raw?n=&seed= through AppendResponse, the way a
// cache hit does, and /raw?...&also=1 writes a body through net/http as
// well (a handler bug the connection must not turn into two answers).
// Where AppendResponse refuses (TLS, h2), it answers through w.
func appendHandler(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	seed, _ := strconv.Atoi(r.URL.Query().Get("seed"))
	b := body(n, seed)
	ok := AppendResponse(w, func(dst []byte) []byte {
		dst = append(dst, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Path: raw\r\nContent-Length: "...)
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, "\r\n\r\n"...)
		return append(dst, b...)
	})
	if !ok {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Path", "net/http")
		_, _ = w.Write(b)
		return
	}
	if r.URL.Query().Get("also") == "1" {
		_, _ = w.Write([]byte("second answer"))
	}
}

func appendMux() *http.ServeMux {
	mux := testMux()
	mux.HandleFunc("/raw", appendHandler)
	return mux
}

// TestAppendResponse sends appended responses of several sizes (within the
// buffer, and larger than it: 40 KiB leaves in one writev) on one
// keep-alive connection, interleaved with ordinary ones, and counts one
// write per response.
func TestAppendResponse(t *testing.T) {
	s := startServer(t, appendMux(), true, "")
	client := s.Client()
	sizes := []int{0, 1 << 10, 16 << 10, 40 << 10, 5}
	for i, n := range sizes {
		resp, b := get(t, client, fmt.Sprintf("%s/raw?n=%d&seed=%d", s.URL, n, i))
		if resp.Header.Get("X-Path") != "raw" {
			t.Fatalf("n=%d: X-Path %q, want the appended response", n, resp.Header.Get("X-Path"))
		}
		checkBody(t, b, n, i)
		_, b = get(t, client, fmt.Sprintf("%s/obj?n=%d&seed=%d", s.URL, n, i))
		checkBody(t, b, n, i)
	}
	if got, want := s.writes.Load(), int64(2*len(sizes)); got != want {
		t.Errorf("writes: got %d for %d responses, want one each", got, want)
	}
}

// TestAppendResponsePipelined sends requests in one write: each appended
// answer is followed by the next, nothing of net/http's dropped answers
// shows, and ordinary answers keep their place.
func TestAppendResponsePipelined(t *testing.T) {
	s := startServer(t, appendMux(), true, "")
	c := dialRaw(t, s)
	var req strings.Builder
	paths := []string{"/raw?n=10&seed=1", "/obj?n=20&seed=2", "/raw?n=3000&seed=3", "/raw?n=0&seed=4", "/obj?n=7&seed=5"}
	for _, p := range paths {
		fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", p)
	}
	c.send(t, req.String())
	for i, p := range paths {
		resp, b := c.response(t, "GET")
		var n, seed int
		fmt.Sscanf(p[strings.Index(p, "n="):], "n=%d&seed=%d", &n, &seed)
		if resp.StatusCode != 200 {
			t.Fatalf("response %d (%s): status %d", i, p, resp.StatusCode)
		}
		checkBody(t, b, n, seed)
	}
	c.send(t, "GET /raw?n=1&seed=9 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	_, b := c.response(t, "GET")
	checkBody(t, b, 1, 9)
	c.expectEOF(t)
}

// TestAppendResponseThenWrite: a handler that answers through both ways
// gets its appended answer out and the connection closed, never a second
// answer on it.
func TestAppendResponseThenWrite(t *testing.T) {
	s := startServer(t, appendMux(), true, "")
	c := dialRaw(t, s)
	c.send(t, "GET /raw?n=100&seed=1&also=1 HTTP/1.1\r\nHost: x\r\n\r\nGET /raw?n=5&seed=2 HTTP/1.1\r\nHost: x\r\n\r\n")
	_, b := c.response(t, "GET")
	checkBody(t, b, 100, 1)
	c.expectEOF(t)
}

// TestAppendResponseRefused: over TLS (HTTP/1.1 and h2) the connection's
// bytes are records, so AppendResponse refuses and the handler answers
// through net/http; without the Listener it refuses too.
func TestAppendResponseRefused(t *testing.T) {
	for _, mode := range []string{"http/1.1", "h2"} {
		s := startServer(t, appendMux(), true, mode)
		resp, b := get(t, s.Client(), s.URL+"/raw?n=1000&seed=2")
		if got := resp.Header.Get("X-Path"); got != "net/http" {
			t.Errorf("%s: X-Path %q, want net/http", mode, got)
		}
		checkBody(t, b, 1000, 2)
	}
	s := startServer(t, appendMux(), false, "")
	resp, b := get(t, s.Client(), s.URL+"/raw?n=10&seed=2")
	if got := resp.Header.Get("X-Path"); got != "net/http" {
		t.Errorf("plain net/http: X-Path %q, want net/http", got)
	}
	checkBody(t, b, 10, 2)
}

// TestAppendResponseAfterHeader: once the handler touched w.Header(), fields
// may be set there that an appended answer would not carry: AppendResponse
// refuses and the answer goes through net/http with them.
func TestAppendResponseAfterHeader(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Set-Before", "1")
		appendHandler(w, r)
	})
	s := startServer(t, h, true, "")
	resp, b := get(t, s.Client(), s.URL+"/raw?n=10&seed=1")
	if resp.Header.Get("X-Path") != "net/http" || resp.Header.Get("X-Set-Before") != "1" {
		t.Errorf("X-Path %q, X-Set-Before %q: want the answer through net/http with the field set before", resp.Header.Get("X-Path"), resp.Header.Get("X-Set-Before"))
	}
	checkBody(t, b, 10, 1)
}
