package server

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestAppendedHitLargeBodyNotCopied: a hit of a large stored body must not
// copy the body per request. Before the appended hits, net/http wrote
// e.Body straight to the connection (one writev with what was buffered);
// appending it to the connection's 32 KiB buffer makes append allocate a
// new array the size of the whole response and copy the body into it on
// every hit: with the default 8 MiB cache.max_object_size, 8 MiB of garbage
// per hit, which the memory bound (1.5 × cache.memory + 32 MiB, DESIGN
// invariant 4) and the hit path's "no allocation it can avoid" (invariant 6)
// do not allow.
func TestAppendedHitLargeBodyNotCopied(t *testing.T) {
	const size = 2 << 20
	payload := strings.Repeat("x", size)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "public, max-age=300")
		io.WriteString(w, payload)
	}))
	defer origin.Close()
	_, addr := startServer(t, "listen: 127.0.0.1:0\norigin: {url: "+origin.URL+"}\ncache: {compression: false, memory: 64MiB}\nroutes:\n  - match: GET /big\n    ttl: 5m\n")
	c := dialServer(t, addr, 30*time.Second)
	br := bufio.NewReaderSize(c, 64<<10)
	sink := make([]byte, 64<<10)
	get := func() (xcache string) {
		t.Helper()
		fmt.Fprint(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, struct{ io.Reader }{resp.Body}, sink)
		if err != nil || n != size {
			t.Fatalf("body: %d bytes, %v; want %d", n, err, size)
		}
		return resp.Header.Get("X-Cache")
	}
	get() // the miss that stores it
	for range 3 {
		if x := get(); x != "HIT" {
			t.Fatalf("X-Cache %q, want HIT", x)
		}
	}
	const hits = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range hits {
		get()
	}
	runtime.ReadMemStats(&after)
	perHit := (after.TotalAlloc - before.TotalAlloc) / hits
	if perHit > size/4 {
		t.Errorf("a hit of a %d-byte body allocates %d bytes: the body is copied per hit", size, perHit)
	}
}

// TestAppendedHitSaysClose: a hit answered while net/http closes the
// connection after every answer (keep-alives disabled, as during
// Shutdown) carries "Connection: close", as the same hit through net/http
// does.
func TestAppendedHitSaysClose(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		io.WriteString(w, `{"ok":true}`)
	}))
	defer origin.Close()
	srv, addr := startServer(t, "listen: 127.0.0.1:0\norigin: {url: "+origin.URL+"}\ncache: {compression: false}\nroutes:\n  - match: GET /api/{id}\n    ttl: 5m\n")
	get := func() *http.Response {
		t.Helper()
		c := dialServer(t, addr, 10*time.Second)
		fmt.Fprint(c, "GET /api/1 HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		return resp
	}
	get()
	if resp := get(); resp.Header.Get("X-Cache") != "HIT" || resp.Close {
		t.Fatalf("keep-alive hit: X-Cache %q, close %v", resp.Header.Get("X-Cache"), resp.Close)
	}
	srv.proxy.SetKeepAlivesEnabled(false)
	if resp := get(); resp.Header.Get("X-Cache") != "HIT" || !resp.Close {
		t.Errorf("hit with keep-alives disabled: X-Cache %q, Connection: close %v; want HIT and close", resp.Header.Get("X-Cache"), resp.Close)
	}
}
