package gateway

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// rawOrigin answers every request with the bytes reply returns, then
// closes the connection.
func rawOrigin(t *testing.T, reply func() []byte) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
					return
				}
				c.Write(reply())
			}()
		}
	}()
	return &url.URL{Scheme: "http", Host: ln.Addr().String()}
}

func chunk(b []byte) []byte {
	return fmt.Appendf(nil, "%x\r\n%s\r\n0\r\n\r\n", len(b), b)
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Transfer codings net/http's client refuses are read as RFC 9112 says,
// and the answer is served and stored, not turned into a 502.
func TestTransferCodingsNetHTTPRefuses(t *testing.T) {
	body := []byte("hello, transfer codings")
	head := "HTTP/1.1 200 OK\r\nCache-Control: max-age=60\r\nContent-Type: text/plain\r\n"
	tests := []struct {
		name  string
		reply []byte
	}{
		{"identity_with_length", fmt.Appendf(nil, "%sTransfer-Encoding: identity\r\nContent-Length: %d\r\n\r\n%s", head, len(body), body)},
		{"identity_until_close", fmt.Appendf(nil, "%sTransfer-Encoding: identity\r\n\r\n%s", head, body)},
		{"gzip_then_chunked", append([]byte(head+"Transfer-Encoding: gzip, chunked\r\n\r\n"), chunk(gz(body))...)},
		{"two_fields", append([]byte(head+"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"), chunk(gz(body))...)},
		{"gzip_until_close", append([]byte(head+"Transfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n"), gz(body)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := rawOrigin(t, func() []byte { return tt.reply })
			tbl, _ := policy.New(nil)
			gw, err := New(Options{Origin: u, Policies: tbl, OriginTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer gw.Close()
			for i, want := range []string{"MISS", "HIT"} {
				rec := serveDirect(gw, "GET", "/te")
				if rec.Code != 200 || rec.Body.String() != string(body) || rec.Header().Get("X-Cache") != want {
					t.Fatalf("request %d: %d %q %s; want 200 %q %s", i, rec.Code, rec.Body.String(), rec.Header().Get("X-Cache"), body, want)
				}
			}
		})
	}
	t.Run("post_is_not_retried", func(t *testing.T) {
		u := rawOrigin(t, func() []byte { return []byte(head + "Transfer-Encoding: identity\r\n\r\nx") })
		tbl, _ := policy.New(nil)
		gw, err := New(Options{Origin: u, Policies: tbl})
		if err != nil {
			t.Fatal(err)
		}
		defer gw.Close()
		if rec := serveDirect(gw, "POST", "/te"); rec.Code != http.StatusBadGateway {
			t.Errorf("POST: %d, want 502 (a write is never sent twice)", rec.Code)
		}
	})
}

// An origin whose header never ends is cut off, not read into memory.
func TestTransferCodingHeaderBudget(t *testing.T) {
	huge := append([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n"), bytes.Repeat([]byte("X-Junk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"), 60000)...)
	u := rawOrigin(t, func() []byte { return huge })
	tbl, _ := policy.New(nil)
	gw, err := New(Options{Origin: u, Policies: tbl})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	if rec := serveDirect(gw, "GET", "/h"); rec.Code != http.StatusBadGateway {
		t.Errorf("a 2.4 MB header: %d, want 502", rec.Code)
	}
}
