package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestUpstreamsFromConfig: origin.upstream balances every request over a
// pool whose health checks take a failing member out; /api/stats and the
// metrics show each member; a reload that keeps the upstream keeps its
// health state; a route's own upstream gets the route's requests.
func TestUpstreamsFromConfig(t *testing.T) {
	var sick atomic.Bool
	var servedA, servedB, servedC atomic.Int64
	server := func(name string, served *atomic.Int64, healthy func() bool) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				if !healthy() {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
				return
			}
			served.Add(1)
			fmt.Fprint(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a := server("a", &servedA, func() bool { return !sick.Load() })
	b := server("b", &servedB, func() bool { return true })
	c := server("c", &servedC, func() bool { return true })
	text := func(extraRoute string) string {
		return fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token: token-123456789}
origin: {upstream: api}
upstreams:
  api:
    urls: [%s, %s]
    health: {path: /healthz, interval: 20ms, rise: 1, fall: 1}
  search:
    urls: [%s]
routes:
  - match: GET /nocache/{id}
    cache: false
%s`, a.URL, b.URL, c.URL, extraRoute)
	}
	srv, err := New(parseConfig(t, text("")), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr, adminAddr, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	get := func(p string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	admin := func(p string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+adminAddr+p, nil)
		req.Header.Set("Authorization", "Bearer token-123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(b)
	}
	for i := range 4 {
		get(fmt.Sprintf("/nocache/%d", i))
	}
	if servedA.Load() != 2 || servedB.Load() != 2 {
		t.Fatalf("balanced: a=%d b=%d, want 2 and 2", servedA.Load(), servedB.Load())
	}
	memberState := func(url string) string {
		var st struct {
			Upstreams []struct {
				Name    string `json:"name"`
				Members []struct {
					URL   string `json:"url"`
					State string `json:"state"`
				} `json:"members"`
			} `json:"upstreams"`
		}
		json.Unmarshal([]byte(admin("/api/stats")), &st)
		for _, u := range st.Upstreams {
			for _, m := range u.Members {
				if m.URL == url {
					return m.State
				}
			}
		}
		return ""
	}
	waitState := func(url, want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for memberState(url) != want {
			if time.Now().After(deadline) {
				t.Fatalf("member %s never %s: %s", url, want, admin("/api/stats"))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	sick.Store(true)
	waitState(a.URL, "down")
	if m := admin("/metrics"); !strings.Contains(m, fmt.Sprintf(`moat_upstream_member_up{member=%q,upstream="api"} 0`, a.URL)) ||
		!strings.Contains(m, fmt.Sprintf(`moat_upstream_member_up{member=%q,upstream="api"} 1`, b.URL)) {
		t.Errorf("metrics do not show a down and b up:\n%s", grepLines(m, "moat_upstream_member_up"))
	}
	beforeA := servedA.Load()
	for i := range 6 {
		if code, body := get(fmt.Sprintf("/nocache/s%d", i)); code != 200 || body != "b" {
			t.Fatalf("with a failing its health check: %d %q", code, body)
		}
	}
	if servedA.Load() != beforeA {
		t.Errorf("the member whose health check fails got %d requests", servedA.Load()-beforeA)
	}

	// A reload that keeps the upstream keeps its state: a is still down at
	// once, without waiting for new probes.
	if _, err := srv.Reload(parseConfig(t, text("  - match: GET /search\n    upstream: search\n"))); err != nil {
		t.Fatal(err)
	}
	if got := memberState(a.URL); got != "down" {
		t.Errorf("after a reload that kept the upstream, a is %q, want down", got)
	}
	if code, body := get("/search"); code != 200 || body != "c" {
		t.Errorf("route upstream: %d %q, want c", code, body)
	}
	sick.Store(false)
	waitState(a.URL, "up")
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
