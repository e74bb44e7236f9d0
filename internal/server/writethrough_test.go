package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/moatproxy/moat/internal/redistest"
)

// TestWriteThroughOnRedisFleet: three nodes on a real Redis (L2 and bus).
// A PUT through one node, answered with the new state and
// Content-Location, makes the next GET a hit with the new body on all
// three, the origin not asked again.
func TestWriteThroughOnRedisFleet(t *testing.T) {
	rs := redistest.Standalone(t)
	var mu sync.Mutex
	state, gets := map[string]string{}, 0
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut {
			b, _ := io.ReadAll(r.Body)
			state[r.URL.Path] = string(b)
			w.Header().Set("Content-Location", r.URL.Path)
			w.Write(b)
			return
		}
		gets++
		io.WriteString(w, "v:"+state[r.URL.Path])
	}))
	t.Cleanup(origin.Close)
	nodes := make([]*Server, 3)
	for i := range nodes {
		nodes[i], _ = startServer(t, fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: %s}
cache:
  redis: {addrs: [%q], timeout: 200ms, key_prefix: "wt:"}
routes:
  - match: GET /books/{id}
    ttl: 5m
`, origin.URL, rs.Addr))
	}
	do := func(n *Server, method, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://api.example/books/1", strings.NewReader(body))
		w := httptest.NewRecorder()
		n.Gateway().ServeHTTP(w, req)
		return w
	}
	for _, n := range nodes {
		written := func() int64 { l, _ := n.Gateway().L2Stats(); return l.Written }
		w0 := written()
		if r := do(n, "GET", ""); r.Header().Get("X-Cache") == "MISS" {
			// Its L2 write lands before the PUT (one that lands after is
			// fenced by the write, and removes the key from L2).
			waitUntil(t, "the fill in L2", func() bool { return written() > w0 })
		}
	}
	a := nodes[0]
	l, _ := a.Gateway().L2Stats()
	if r := do(a, "PUT", "new"); r.Code != http.StatusOK {
		t.Fatalf("PUT: %d", r.Code)
	}
	waitUntil(t, "the write-through in L2", func() bool { l2, _ := a.Gateway().L2Stats(); return l2.Written > l.Written })
	mu.Lock()
	before := gets
	mu.Unlock()
	for i, n := range nodes {
		r := do(n, "GET", "")
		if r.Body.String() != "new" || r.Header().Get("X-Cache") != "HIT" {
			t.Errorf("node %d after the PUT: %s %q (%s), want a HIT with the new body", i, r.Header().Get("X-Cache"), r.Body.String(), r.Header().Get("Cache-Status"))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if gets != before {
		t.Errorf("the origin was asked %d times after the PUT, want 0", gets-before)
	}
}
