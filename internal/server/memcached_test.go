package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/memcachel2/memcachedtest"
)

// TestMemcachedFleet: three nodes whose L2 is a pool of two memcached
// servers and whose bus is NATS share entries (a fill on one is a hit on
// the others, the origin asked once), and a write through one node
// reaches the others: none serves the old body after it.
func TestMemcachedFleet(t *testing.T) {
	m1, m2 := memcachedtest.Start(t), memcachedtest.Start(t)
	natsURL := startNATS(t)
	var mu sync.Mutex
	state, gets := map[string]string{}, map[string]int{}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut {
			b, _ := io.ReadAll(r.Body)
			state[r.URL.Path] = string(b)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		gets[r.URL.Path]++
		io.WriteString(w, "v:"+state[r.URL.Path])
	}))
	t.Cleanup(origin.Close)
	start := func() *Server {
		srv, _ := startServer(t, fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: %s}
cache:
  memcached: {servers: [%q, %q], timeout: 200ms}
  nats_bus: {url: %q, subject: test.purges}
routes:
  - match: GET /books/{id}
    ttl: 5m
`, origin.URL, m1.Addr(), m2.Addr(), natsURL))
		return srv
	}
	nodes := []*Server{start(), start(), start()}
	// Memcached does not apply purges, so a node vouches only for entries
	// whose fill started after it did, by more than the clock skew the
	// fleet allows (gateway.Options.L2Skew, 1s): fill after that.
	started := time.Now()
	waitUntil(t, "the allowed clock skew past the nodes' start", func() bool { return time.Since(started) > 1100*time.Millisecond })
	do := func(n *Server, method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://api.example"+path, strings.NewReader(body))
		w := httptest.NewRecorder()
		n.Gateway().ServeHTTP(w, req)
		return w
	}
	for _, n := range nodes {
		waitUntil(t, "the NATS bus connected", func() bool { return n.fleet.natsBus.Stats().Connected })
	}
	ids := []string{"1", "2", "3", "4", "5", "6"}
	for _, id := range ids {
		do(nodes[0], "GET", "/books/"+id, "")
	}
	waitUntil(t, "the fills written to memcached", func() bool {
		l, _ := nodes[0].Gateway().L2Stats()
		return l.Written >= int64(len(ids))
	})
	for i, n := range nodes[1:] {
		for _, id := range ids {
			if w := do(n, "GET", "/books/"+id, ""); w.Header().Get("X-Cache") != "HIT" {
				t.Errorf("node %d, /books/%s: %s (%s), want an L2 hit", i+1, id, w.Header().Get("X-Cache"), w.Header().Get("Cache-Status"))
			}
		}
	}
	mu.Lock()
	for _, id := range ids {
		if gets["/books/"+id] != 1 {
			t.Errorf("/books/%s: the origin was asked %d times, want 1", id, gets["/books/"+id])
		}
	}
	mu.Unlock()

	do(nodes[0], "PUT", "/books/1", "new")
	for i, n := range nodes {
		waitUntil(t, fmt.Sprintf("node %d serving the new body", i), func() bool {
			return do(n, "GET", "/books/1", "").Body.String() == "v:new"
		})
	}
}
