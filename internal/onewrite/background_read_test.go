package onewrite

import (
	"fmt"
	"net/http"
	"testing"
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
