package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/redistest"
)

// TestFleetStats: two servers on one Redis share L2 (a fill on one is an
// L2 hit on the other) and /api/stats says so, with the nodes heard on
// the bus.
func TestFleetStats(t *testing.T) {
	rs := redistest.Standalone(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, r.URL.Path)
	}))
	defer origin.Close()
	start := func() *Server {
		cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: %s}
cache:
  redis: {addrs: ["%s"], timeout: 100ms, key_prefix: "statstest:", bus: {grace: 600ms}}
`, origin.URL, rs.Addr)), "fleet.yaml")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		return srv
	}
	a, b := start(), start()
	get := func(s *Server, path string) string {
		req := httptest.NewRequest("GET", "http://api.example"+path, nil)
		w := httptest.NewRecorder()
		s.Gateway().ServeHTTP(w, req)
		return w.Header().Get("X-Cache")
	}
	get(a, "/x")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l, _ := a.Gateway().L2Stats(); l.Written >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A never wrote to L2")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := get(b, "/x"); got != "HIT" {
		t.Errorf("B after A's fill: X-Cache %q, want HIT (from L2)", got)
	}
	for {
		f, _ := b.Stats().(map[string]any)["fleet"].(map[string]any)
		if f == nil {
			t.Fatal("no fleet section in /api/stats with cache.redis")
		}
		l2 := f["l2"].(map[string]any)
		nodes := f["nodes"].([]map[string]any)
		if l2["hits"].(int64) == 1 && len(nodes) == 2 && f["redis_connected"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fleet stats of B: %+v, want 1 L2 hit, 2 nodes heard, connected", f)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
