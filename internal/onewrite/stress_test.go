package onewrite

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
)

// TestConcurrentClients runs 50 keep-alive clients × 200 requests with
// bodies of 0..64 KiB, cached (flushed or not) or streamed, and checks
// every body byte for byte. Run it with -race.
func TestConcurrentClients(t *testing.T) {
	clients, requests := 50, 200
	if testing.Short() {
		clients, requests = 10, 50
	}
	s := startServer(t, testMux(), true, "")
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr}
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for i := range requests {
				n, seed := rng.IntN(64<<10+1), c*1000+i
				var url string
				switch rng.IntN(4) {
				case 0:
					url = fmt.Sprintf("%s/obj?n=%d&seed=%d&flush=1", s.URL, n, seed)
				case 1:
					url = fmt.Sprintf("%s/obj?n=%d&seed=%d&flush=0", s.URL, n, seed)
				case 2:
					url = fmt.Sprintf("%s/stream?n=%d&seed=%d&piece=%d", s.URL, n, seed, 1+rng.IntN(20000))
				case 3:
					url = fmt.Sprintf("%s/stream?n=%d&seed=%d&piece=%d&flush=1", s.URL, n, seed, 1+rng.IntN(20000))
				}
				resp, b := get(t, client, url)
				if resp.StatusCode != http.StatusOK || string(b) != string(body(n, seed)) {
					errs <- fmt.Errorf("client %d request %d (%s): status %d, %d bytes, want %d bytes", c, i, url, resp.StatusCode, len(b), n)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
