package onewrite

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// TestTLS runs under tls.NewListener(Listener): HTTP/1.1 coalesces the TLS
// records of a response into one write; HTTP/2 passes through (nothing is
// ever buffered) and serves concurrent streams.
func TestTLS(t *testing.T) {
	t.Run("http1_coalesces", func(t *testing.T) {
		s := startServer(t, testMux(), true, "http/1.1")
		client := s.Client()
		// A first request on the connection carries the handshake and
		// TLS 1.3's session tickets, whose writes land before or after the
		// buffering starts depending on scheduling: not counted.
		_, _ = get(t, client, s.URL+"/obj?n=10")
		before := s.writes.Load()
		const requests = 3
		for i := range requests {
			resp, b := get(t, client, fmt.Sprintf("%s/obj?n=16384&seed=%d", s.URL, i))
			if resp.ProtoMajor != 1 || resp.TLS == nil {
				t.Fatalf("protocol: got %s (TLS %v), want HTTP/1.1 over TLS", resp.Proto, resp.TLS != nil)
			}
			checkBody(t, b, 16384, i)
		}
		if got := s.writes.Load() - before; got != requests {
			t.Errorf("buffered writes for %d responses: got %d, want %d", requests, got, requests)
		}
	})
	t.Run("plain_http1_writes", func(t *testing.T) {
		s := startServer(t, testMux(), false, "http/1.1")
		client := s.Client()
		_, _ = get(t, client, s.URL+"/obj?n=10") // handshake
		before := s.writes.Load()
		_, b := get(t, client, s.URL+"/obj?n=16384&seed=1")
		checkBody(t, b, 16384, 1)
		// crypto/tls writes each record on its own; on a fresh connection
		// it sends small records first (dynamic record sizing).
		got := s.writes.Load() - before
		t.Logf("plain net/http over TLS: %d writes for a 16 KiB response", got)
		if got < 2 {
			t.Errorf("writes for a 16 KiB response: got %d, want at least 2", got)
		}
	})
	t.Run("h2_passes_through", func(t *testing.T) {
		s := startServer(t, testMux(), true, "h2")
		client := s.Client()
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				resp, err := client.Get(fmt.Sprintf("%s/stream?n=%d&seed=%d&flush=1&piece=5000", s.URL, 40000+i, i))
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				if resp.ProtoMajor != 2 {
					errs <- fmt.Errorf("protocol: got %s, want HTTP/2.0", resp.Proto)
					return
				}
				b := make([]byte, 0, 40000+i)
				for {
					if len(b) == cap(b) {
						break
					}
					n, err := resp.Body.Read(b[len(b):cap(b)])
					b = b[:len(b)+n]
					if err != nil {
						break
					}
				}
				if string(b) != string(body(40000+i, i)) {
					errs <- fmt.Errorf("stream %d: body differs (%d bytes)", i, len(b))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := s.writes.Load(); got != 0 {
			t.Errorf("buffered writes under h2: got %d, want 0", got)
		}
		if resp, _ := get(t, client, s.URL+"/obj?n=10"); resp.StatusCode != http.StatusOK {
			t.Fatalf("status: got %d, want 200", resp.StatusCode)
		}
	})
}
