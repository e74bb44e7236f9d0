package onewrite

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestBackgroundReadKeepsOneWrite: net/http starts its background read of
// the next request in a goroutine before the handler runs; when that
// goroutine reaches Conn.Read only after the handler has written part of
// its response, a flush before the read sent the response in two writes
// (seen in CI as 4 writes for 3 responses over TLS). Over many requests on
// one connection the late read happens many times; each response must
// still leave in one write.
func TestBackgroundReadKeepsOneWrite(t *testing.T) {
	for _, mode := range []string{"", "http/1.1"} {
		name := "plain"
		if mode != "" {
			name = "tls"
		}
		t.Run(name, func(t *testing.T) {
			s := startServer(t, testMux(), true, mode)
			client := s.Client()
			client.Transport.(*http.Transport).MaxConnsPerHost = 1
			_, _ = get(t, client, s.URL+"/obj?n=10") // the TLS handshake, if any
			before := s.writes.Load()
			const requests = 1500
			for i := range requests {
				resp, b := get(t, client, fmt.Sprintf("%s/obj?n=16384&seed=%d&flush=0", s.URL, i))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status: got %d, want 200", resp.StatusCode)
				}
				checkBody(t, b, 16384, i)
			}
			if got := s.writes.Load() - before; got != requests {
				t.Errorf("writes for %d responses: got %d, want one each", requests, got)
			}
		})
	}
}

// TestLateBackgroundReadDoesNotFlush: the background read may pass Read's
// check of serving before the handler starts, then wait for the buffer's
// lock while the handler buffers its first bytes. flushBeforeRead checks
// serving again under the lock, so those bytes stay buffered.
func TestLateBackgroundReadDoesNotFlush(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	received := make(chan int64, 1)
	go func() { n, _ := io.Copy(io.Discard, b); received <- n }() // the client
	var writes atomic.Int64
	c := newConn(a, time.Second, func() { writes.Add(1) })
	c.sniffed.Store(true)
	c.serving.Store(true) // the handler started
	if _, err := c.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if err := c.flushBeforeRead(); err != nil { // the late background read
		t.Fatal(err)
	}
	if got := writes.Load(); got != 0 {
		t.Fatalf("a background read flushed the handler's partial answer: %d writes, want 0", got)
	}
	c.serving.Store(false) // the handler returned: a read now flushes
	if err := c.flushBeforeRead(); err != nil {
		t.Fatal(err)
	}
	if got := writes.Load(); got != 1 {
		t.Fatalf("after the handler: %d writes, want 1", got)
	}
	a.Close()
	if n := <-received; n != 4096 {
		t.Fatalf("the client received %d bytes, want 4096", n)
	}
}
