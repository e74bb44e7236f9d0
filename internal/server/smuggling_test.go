package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A request with both Content-Length and Transfer-Encoding closes its
// connection after the answer (RFC 9112 §6.1): a request pipelined behind
// it is never read from the same bytes a front end may have framed
// differently. net/http does this itself (older versions kept the
// connection open); this keeps it so through moat's listener and front.
func TestContentLengthWithTransferEncodingCloses(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, "ok "+r.URL.Path)
	}))
	defer origin.Close()
	_, addr := startServer(t, "listen: 127.0.0.1:0\norigin: {url: "+origin.URL+"}\n")
	c := dialServer(t, addr, 10*time.Second)
	fmt.Fprint(c, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"+
		"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if !resp.Close {
		t.Errorf("the answer to a CL+TE request keeps the connection open (Connection: %q)", resp.Header.Get("Connection"))
	}
	if rest, _ := io.ReadAll(br); strings.Contains(string(rest), "smuggled") {
		t.Errorf("the request pipelined behind it was answered: %q", rest)
	}
}

// startServer starts a Server of the config text on a free port; it shuts
// down with the test.
func startServer(t *testing.T, text string) (*Server, string) {
	t.Helper()
	srv, err := New(parseConfig(t, text), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr, _, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return srv, addr
}

// dialServer connects to addr with a deadline of d for everything on the
// connection; it closes with the test.
func dialServer(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(d))
	return c
}
