package server

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAppendedHitMatchesNetHTTP: a plain fresh hit on a plaintext
// HTTP/1.1 connection is sent by appending the stored response to the
// connection (gateway.appendHit, onewrite.AppendResponse); its fields and
// body are the ones net/http sends for the same hit when the fast path
// does not apply ("Connection: close"), pipelined hits and misses keep
// their order, and requests the fast path must not take (HEAD,
// conditional) are answered as before.
func TestAppendedHitMatchesNetHTTP(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Add("X-Multi", "one")
		w.Header().Add("X-Multi", "two")
		fmt.Fprintf(w, `{"path":%q,"pad":%q}`, r.URL.Path, strings.Repeat("x", 1000))
	}))
	defer origin.Close()
	_, addr := startServer(t, "listen: 127.0.0.1:0\norigin: {url: "+origin.URL+"}\ncache: {compression: false}\nroutes:\n  - match: GET /api/{id}\n    ttl: 5m\n")

	c := dialServer(t, addr, 10*time.Second)
	br := bufio.NewReader(c)
	// read returns one response's header block as sent, and its body.
	read := func(method string) (string, *http.Response, []byte) {
		t.Helper()
		var head bytes.Buffer
		tee := bufio.NewReader(io.TeeReader(br, &head))
		resp, err := http.ReadResponse(tee, &http.Request{Method: method})
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		raw, _, _ := strings.Cut(head.String(), "\r\n\r\n")
		// The tee may have read ahead into the next response: give it back.
		rest := head.Bytes()[len(raw)+4+len(body):]
		br = bufio.NewReader(io.MultiReader(bytes.NewReader(rest), br))
		return raw, resp, body
	}
	// A miss, then two hits and a miss of another URL, pipelined.
	fmt.Fprint(c, "GET /api/1 HTTP/1.1\r\nHost: x\r\n\r\n")
	_, miss, missBody := read("GET")
	if miss.Header.Get("X-Cache") == "HIT" {
		t.Fatalf("first request: X-Cache HIT")
	}
	fmt.Fprint(c, "GET /api/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/2 HTTP/1.1\r\nHost: x\r\n\r\n")
	for i := range 2 {
		raw, hit, body := read("GET")
		if hit.Header.Get("X-Cache") != "HIT" || !bytes.Equal(body, missBody) {
			t.Fatalf("hit %d: X-Cache %q, body %d bytes (want HIT and the miss's %d bytes)", i, hit.Header.Get("X-Cache"), len(body), len(missBody))
		}
		if !strings.Contains(raw, "\r\nX-Cache: HIT\r\nContent-Length: ") {
			t.Errorf("hit %d was not appended to the connection (net/http orders fields by name):\n%s", i, raw)
		}
	}
	_, other, otherBody := read("GET")
	if other.Header.Get("X-Cache") == "HIT" || !strings.Contains(string(otherBody), `"/api/2"`) {
		t.Fatalf("pipelined miss after the hits: X-Cache %q, body %.40q", other.Header.Get("X-Cache"), otherBody)
	}

	// The same hit through net/http.
	fmt.Fprint(c, "GET /api/1 HTTP/1.1\r\nHost: x\r\n\r\n")
	rawFast, fast, fastBody := read("GET")
	fmt.Fprint(c, "GET /api/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	rawSlow, slow, slowBody := read("GET")
	if strings.Contains(rawSlow, "X-Cache: HIT\r\nContent-Length") || !strings.Contains(rawFast, "X-Cache: HIT\r\nContent-Length") {
		t.Fatalf("want the first answer appended and the second through net/http:\n%s\n\n%s", rawFast, rawSlow)
	}
	if !bytes.Equal(fastBody, slowBody) || fast.StatusCode != slow.StatusCode || fast.Proto != slow.Proto {
		t.Errorf("appended hit: %s %d, %d bytes; net/http: %s %d, %d bytes", fast.Proto, fast.StatusCode, len(fastBody), slow.Proto, slow.StatusCode, len(slowBody))
	}
	delete(slow.Header, "Connection")
	for _, h := range []http.Header{fast.Header, slow.Header} {
		for _, k := range []string{"Age", "Cache-Status"} { // may differ by a second
			if h.Get(k) == "" {
				t.Errorf("%s missing", k)
			}
			delete(h, k)
		}
	}
	if fmt.Sprint(fast.Header) != fmt.Sprint(slow.Header) {
		t.Errorf("fields differ:\nappended: %v\nnet/http: %v", fast.Header, slow.Header)
	}
	if len(fast.Header["X-Multi"]) != 2 {
		t.Errorf("X-Multi = %q, want both values", fast.Header["X-Multi"])
	}

	// HEAD and conditional hits are not appended, and keep their meaning.
	c = dialServer(t, addr, 10*time.Second)
	br = bufio.NewReader(c)
	fmt.Fprint(c, "HEAD /api/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /api/1 HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v1\"\r\n\r\n")
	if raw, head, body := read("HEAD"); head.StatusCode != 200 || len(body) != 0 || strings.Contains(raw, "X-Cache: HIT\r\nContent-Length") {
		t.Errorf("HEAD hit: %d, %d body bytes, appended: %v", head.StatusCode, len(body), strings.Contains(raw, "X-Cache: HIT\r\nContent-Length"))
	}
	if _, cond, _ := read("GET"); cond.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match hit: status %d, want 304", cond.StatusCode)
	}
}
