package onewrite

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestProbes replays the probes of notes/perf-one-write.md on raw sockets,
// against plain net/http (to validate the probe) and through the Listener.
// A held-back byte fails a probe by the client's 10 s read deadline.
func TestProbes(t *testing.T) {
	probes := []struct {
		name string
		run  func(t *testing.T, s *testServer)
	}{
		{"keep_alive", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			for i := range 3 {
				c.send(t, fmt.Sprintf("GET /obj?n=%d&seed=%d HTTP/1.1\r\nHost: x\r\n\r\n", 1000*(i+1), i))
				_, b := c.response(t, "GET")
				checkBody(t, b, 1000*(i+1), i)
			}
		}},
		{"pipelined_get_head_get", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			c.send(t, "GET /obj?n=100&seed=1 HTTP/1.1\r\nHost: x\r\n\r\n"+
				"HEAD /obj?n=20000 HTTP/1.1\r\nHost: x\r\n\r\n"+
				"GET /obj?n=20000&seed=3 HTTP/1.1\r\nHost: x\r\n\r\n")
			_, b := c.response(t, "GET")
			checkBody(t, b, 100, 1)
			resp, b := c.response(t, "HEAD")
			if resp.ContentLength != 20000 || len(b) != 0 {
				t.Fatalf("HEAD: got Content-Length %d and %d body bytes, want 20000 and 0", resp.ContentLength, len(b))
			}
			_, b = c.response(t, "GET")
			checkBody(t, b, 20000, 3)
		}},
		{"connection_close", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			c.send(t, "GET /obj?n=5000&seed=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			_, b := c.response(t, "GET")
			checkBody(t, b, 5000, 2)
			c.expectEOF(t)
		}},
		{"http10", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			c.send(t, "GET /obj?n=700&seed=4 HTTP/1.0\r\n\r\n")
			_, b := c.response(t, "GET")
			checkBody(t, b, 700, 4)
			c.expectEOF(t)
		}},
		{"http10_keep_alive", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			for i := range 2 {
				c.send(t, fmt.Sprintf("GET /obj?n=17000&seed=%d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", i))
				resp, b := c.response(t, "GET")
				checkBody(t, b, 17000, i)
				if got := resp.Header.Get("Connection"); !strings.EqualFold(got, "keep-alive") {
					t.Fatalf("Connection: got %q, want keep-alive", got)
				}
			}
		}},
		{"body_content_length", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			c.send(t, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
			if _, b := c.response(t, "POST"); string(b) != "hello" {
				t.Fatalf("echo: got %q, want hello", b)
			}
			c.send(t, "POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"+
				"GET /obj?n=10 HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, b := c.response(t, "POST"); string(b) != "ok" {
				t.Fatalf("ignore: got %q, want ok", b)
			}
			_, b := c.response(t, "GET")
			checkBody(t, b, 10, 0)
		}},
		{"body_chunked", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			c.send(t, "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
			if _, b := c.response(t, "POST"); string(b) != "hello world" {
				t.Fatalf("echo: got %q, want hello world", b)
			}
			c.send(t, "POST /ignore HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+
				"GET /obj?n=10 HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, b := c.response(t, "POST"); string(b) != "ok" {
				t.Fatalf("ignore: got %q, want ok", b)
			}
			_, b := c.response(t, "GET")
			checkBody(t, b, 10, 0)
		}},
		{"expect_100_continue", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			c.send(t, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
			// The client sends the body only after the 100.
			if resp, _ := c.response(t, "POST"); resp.StatusCode != http.StatusContinue {
				t.Fatalf("status: got %d, want 100", resp.StatusCode)
			}
			c.send(t, "hello")
			resp, b := c.response(t, "POST")
			if resp.StatusCode != http.StatusOK || string(b) != "hello" {
				t.Fatalf("got %d %q, want 200 hello", resp.StatusCode, b)
			}
		}},
		{"expect_100_continue_unread", func(t *testing.T, s *testServer) {
			c := dialRaw(t, s)
			c.send(t, "POST /ignore HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
			// The handler does not read the body: no 100, the final answer.
			resp, b := c.response(t, "POST")
			if resp.StatusCode != http.StatusOK || string(b) != "ok" {
				t.Fatalf("got %d %q, want 200 ok", resp.StatusCode, b)
			}
		}},
		{"streamed_1MiB", func(t *testing.T, s *testServer) {
			resp, b := get(t, s.Client(), s.URL+"/stream?n=1048576&seed=5&piece=10000")
			if len(resp.TransferEncoding) == 0 {
				t.Errorf("Transfer-Encoding: got none, want chunked")
			}
			checkBody(t, b, 1<<20, 5)
		}},
		{"streamed_1MiB_flushed", func(t *testing.T, s *testServer) {
			_, b := get(t, s.Client(), s.URL+"/stream?n=1048576&seed=6&piece=40000&flush=1")
			checkBody(t, b, 1<<20, 6)
		}},
	}
	for _, wrap := range []bool{false, true} {
		name := map[bool]string{false: "plain", true: "onewrite"}[wrap]
		t.Run(name, func(t *testing.T) {
			for _, p := range probes {
				t.Run(p.name, func(t *testing.T) {
					p.run(t, startServer(t, testMux(), wrap, ""))
				})
			}
		})
	}
}

// TestHijackPassesThrough upgrades to an echo protocol: after Hijack the
// server sends a greeting and waits for the client to have read it, so a
// greeting held in the buffer fails the test.
func TestHijackPassesThrough(t *testing.T) {
	for _, wrap := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "onewrite"}[wrap], func(t *testing.T) {
			greeted := make(chan struct{})
			done := make(chan error, 1)
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, rw, err := http.NewResponseController(w).Hijack()
				if err != nil {
					done <- err
					return
				}
				defer conn.Close()
				_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
				_ = rw.Flush()
				_, _ = io.WriteString(conn, "hello\n")
				select {
				case <-greeted:
				case <-time.After(10 * time.Second):
					done <- fmt.Errorf("client never read the greeting")
					return
				}
				line, err := rw.ReadString('\n')
				if err == nil {
					_, err = io.WriteString(conn, line)
				}
				done <- err
			})
			s := startServer(t, h, wrap, "")
			c := dialRaw(t, s)
			c.send(t, "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			resp, err := http.ReadResponse(c.br, &http.Request{Method: "GET"})
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status: got %d, want 101", resp.StatusCode)
			}
			if line, err := c.br.ReadString('\n'); line != "hello\n" {
				t.Fatalf("greeting: got %q (%v), want hello", line, err)
			}
			close(greeted)
			c.send(t, "ping\n")
			if line, err := c.br.ReadString('\n'); line != "ping\n" {
				t.Fatalf("echo: got %q (%v), want ping", line, err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// chunkedHandler writes chunk 1, flushes, waits until the test has read
// it, then writes chunk 2.
func chunkedHandler(read1 <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "chunk-1;")
		w.(http.Flusher).Flush()
		select {
		case <-read1:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "chunk-2.")
	}
}

// readChunk1 reads chunk 1 within wait and reports whether it came.
func readChunk1(t *testing.T, br *bufio.Reader, wait time.Duration) bool {
	t.Helper()
	got := make(chan string, 1)
	go func() {
		b := make([]byte, len("chunk-1;"))
		_, _ = io.ReadFull(br, b)
		got <- string(b)
	}()
	select {
	case s := <-got:
		if s != "chunk-1;" {
			t.Fatalf("chunk 1: got %q, want chunk-1;", s)
		}
		return true
	case <-time.After(wait):
		return false
	}
}

// TestStreamingFlush checks that Flush through Handler sends a chunk while
// the handler still runs, over cleartext, HTTP/1.1 over TLS and HTTP/2.
func TestStreamingFlush(t *testing.T) {
	for _, mode := range []string{"", "http/1.1", "h2"} {
		t.Run(map[string]string{"": "cleartext", "http/1.1": "tls_http1", "h2": "tls_h2"}[mode], func(t *testing.T) {
			read1 := make(chan struct{})
			s := startServer(t, chunkedHandler(read1), true, mode)
			resp, err := s.Client().Get(s.URL)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if !readChunk1(t, br, 10*time.Second) {
				t.Fatal("chunk 1 held back until the handler ends")
			}
			close(read1)
			if rest, err := io.ReadAll(br); string(rest) != "chunk-2." || err != nil {
				t.Fatalf("chunk 2: got %q (%v), want chunk-2.", rest, err)
			}
		})
	}
}
