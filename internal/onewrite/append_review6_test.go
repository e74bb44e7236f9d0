package onewrite

import (
	"net/http"
	"testing"
)

// TestAppendResponseKeepAlivesDisabled: when net/http will close the
// connection after the answer although the request asked for none of it
// (Server.Shutdown under way, SetKeepAlivesEnabled(false)), the answer it
// writes says "Connection: close". An appended answer must say it too:
// otherwise the client takes the connection for a keep-alive one, sends
// its next request on it and loses it to the close (RFC 9112 §9.6: a
// server that closes after a response sends "close" in it).
func TestAppendResponseKeepAlivesDisabled(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
	}{
		{"appended", "/raw?n=100&seed=1"},
		{"net_http", "/obj?n=100&seed=1"}, // what net/http itself sends, for comparison
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, appendMux(), true, "")
			s.Config.SetKeepAlivesEnabled(false)
			c := dialRaw(t, s)
			c.send(t, "GET "+tc.path+" HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, b := c.response(t, "GET")
			checkBody(t, b, 100, 1)
			if !resp.Close { // (ReadResponse takes "Connection: close" out of the header into Close)
				t.Errorf("no \"Connection: close\" in the answer, but the server closes after it")
			}
			c.expectEOF(t)
		})
	}
}

// TestAppendResponseBuildRefuses: a build that returns nothing (say, a
// body that does not fit the buffer's free space, which net/http writes
// without copying) makes AppendResponse report false, having sent and
// dropped nothing: the handler's answer through w is the one the client
// gets, and the connection goes on.
func TestAppendResponseBuildRefuses(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/refuse" {
			if AppendResponse(w, func(dst []byte) []byte {
				_ = append(dst, "HTTP/1.1 200 OK\r\nX-Path: raw\r\n"...) // written past the buffered bytes, then refused
				return nil
			}) {
				t.Error("AppendResponse reported true for a build that returned nothing")
				return
			}
			w.Header().Set("X-Path", "net/http")
			_, _ = w.Write(body(50, 1))
			return
		}
		appendHandler(w, r)
	})
	s := startServer(t, h, true, "")
	c := dialRaw(t, s)
	c.send(t, "GET /raw?n=20&seed=3 HTTP/1.1\r\nHost: x\r\n\r\nGET /refuse HTTP/1.1\r\nHost: x\r\n\r\nGET /raw?n=30&seed=4 HTTP/1.1\r\nHost: x\r\n\r\n")
	_, b := c.response(t, "GET")
	checkBody(t, b, 20, 3)
	resp, b := c.response(t, "GET")
	if resp.Header.Get("X-Path") != "net/http" {
		t.Errorf("X-Path %q, want net/http", resp.Header.Get("X-Path"))
	}
	checkBody(t, b, 50, 1)
	_, b = c.response(t, "GET")
	checkBody(t, b, 30, 4)
}
