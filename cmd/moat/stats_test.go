package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
)

const adminTestToken = "stats-test-token"

// liveMoat is a real moat server, in this process, in front of an
// httptest origin.
type liveMoat struct {
	proxy, admin string // base URLs
	originHits   *atomic.Int64
}

// startMoat starts a moat with a cached route (tagged product:ID by the
// origin) and an uncached one, and stops both at the end of the test.
// extraYAML is appended to its config.
func startMoat(t *testing.T, extraYAML ...string) *liveMoat {
	t.Helper()
	hits := new(atomic.Int64)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Surrogate-Key", "product:"+strings.TrimPrefix(r.URL.Path, "/api/products/"))
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token: %s}
origin: {url: %s}
routes:
  - match: GET /api/products/{id}
    ttl: 5m
  - match: GET /api/cart
    cache: false
`, adminTestToken, origin.URL)+strings.Join(extraYAML, "\n")), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr, adminAddr, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return &liveMoat{proxy: "http://" + proxyAddr, admin: "http://" + adminAddr, originHits: hits}
}

// get requests path through the gateway and returns its X-Cache.
func (m *liveMoat) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(m.proxy + path)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	return resp.Header.Get("X-Cache")
}

// sendTraffic sends 3 requests for product 1 (a miss, two hits), one for
// product 2 (a miss) and one for the uncached cart (a bypass): 5 requests,
// 2 hits, 2 misses, 1 bypass, 3 origin requests.
func (m *liveMoat) sendTraffic(t *testing.T) {
	t.Helper()
	for i, want := range []string{"MISS", "HIT", "HIT"} {
		if got := m.get(t, "/api/products/1"); got != want {
			t.Fatalf("request %d for product 1: X-Cache %q, want %q", i+1, got, want)
		}
	}
	if got := m.get(t, "/api/products/2"); got != "MISS" {
		t.Fatalf("product 2: X-Cache %q, want MISS", got)
	}
	m.get(t, "/api/cart")
	if n := m.originHits.Load(); n != 3 {
		t.Fatalf("origin saw %d requests, want 3", n)
	}
}

// runCLI runs the moat command line in this process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestStatsCommand(t *testing.T) {
	m := startMoat(t)
	m.sendTraffic(t)

	t.Run("table", func(t *testing.T) {
		code, out, errs := runCLI(t, "stats", "--admin", m.admin, "--token", adminTestToken)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		// route, requests, hits, misses, stale, revalidated, bypass, hit ratio, origin, offload
		for _, want := range []string{
			`(?m)^\s*total\s+5\s+2\s+2\s+0\s+0\s+1\s+40\.0%\s+3\s+40\.0%`,
			`(?m)^\s*GET /api/products/\{id\}\s+4\s+2\s+2\s+0\s+0\s+0\s+50\.0%\s+2\s+50\.0%`,
			`(?m)^\s*GET /api/cart\s+1\s+0\s+0\s+0\s+0\s+1\s+0\.0%\s+1\s+0\.0%`,
			`(?m)^cache\s+2 entries`,
			`(?m)^fleet\s+none`,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("output does not match %s:\n%s", want, out)
			}
		}
	})
	t.Run("json_with_token_from_env", func(t *testing.T) {
		t.Setenv("MOAT_ADMIN_TOKEN", adminTestToken)
		code, out, errs := runCLI(t, "stats", "--admin", m.admin, "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var s adminStats
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("--json output is not the stats JSON: %v\n%s", err, out)
		}
		got := s.Totals
		if got.Requests != 5 || got.Hits != 2 || got.Misses != 2 || got.Bypass != 1 || got.OriginRequests != 3 {
			t.Errorf("totals = %+v, want 5 requests, 2 hits, 2 misses, 1 bypass, 3 origin requests", got)
		}
	})
	t.Run("no_token", func(t *testing.T) {
		t.Setenv("MOAT_ADMIN_TOKEN", "")
		code, _, errs := runCLI(t, "stats", "--admin", m.admin)
		if code != 2 || !strings.Contains(errs, "MOAT_ADMIN_TOKEN") {
			t.Errorf("exit %d, stderr %q; want 2 and a word on MOAT_ADMIN_TOKEN", code, errs)
		}
	})
	t.Run("wrong_token", func(t *testing.T) {
		code, _, errs := runCLI(t, "stats", "--admin", m.admin, "--token", "nope")
		if code != 1 || !strings.Contains(errs, "401") {
			t.Errorf("exit %d, stderr %q; want 1 and the 401", code, errs)
		}
	})
}

func TestInspectCommand(t *testing.T) {
	m := startMoat(t)
	m.sendTraffic(t)
	admin := []string{"--admin", m.admin, "--token", adminTestToken}
	tests := []struct {
		name string
		args []string
		want []string // regexps
	}{
		{"stored_url_after_flags", append(append([]string{"inspect"}, admin...), m.proxy+"/api/products/1"), []string{
			`(?m)^route\s+GET /api/products/\{id\}$`,
			`(?m)^key\s+GET \S+/api/products/1$`,
			`(?m)^stored\s+yes$`,
			`(?m)^fresh\s+yes$`,
			`(?m)^status\s+200$`,
			`(?m)^ttl\s+\d+\.\ds$`,
			`(?m)^tags\s+product:1$`,
			`(?m)^verdict\s+hit: served from cache`,
		}},
		{"unseen_url_before_flags", append([]string{"inspect", m.proxy + "/api/products/3"}, admin...), []string{
			`(?m)^stored\s+no$`,
			`(?m)^verdict\s+miss: nothing stored`,
		}},
		{"uncached_route", append(append([]string{"inspect"}, admin...), m.proxy+"/api/cart"), []string{
			`(?m)^route\s+GET /api/cart$`,
			`(?m)^bypass\s+route: the route says cache: false$`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			for _, want := range tt.want {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("output does not match %s:\n%s", want, out)
				}
			}
		})
	}
	t.Run("json", func(t *testing.T) {
		code, out, errs := runCLI(t, append(append([]string{"inspect", "--json"}, admin...), m.proxy+"/api/products/2")...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var in struct {
			Stored bool     `json:"stored"`
			Tags   []string `json:"tags"`
		}
		if err := json.Unmarshal([]byte(out), &in); err != nil || !in.Stored || len(in.Tags) != 1 || in.Tags[0] != "product:2" {
			t.Errorf("--json: %+v (%v) from %s; want stored with tag product:2", in, err, out)
		}
	})
	t.Run("relative_url_refused", func(t *testing.T) {
		code, _, errs := runCLI(t, append(append([]string{"inspect"}, admin...), "/api/products/1")...)
		if code != 1 || !strings.Contains(errs, "absolute URL") {
			t.Errorf("exit %d, stderr %q; want 1 and the admin API's word on absolute URLs", code, errs)
		}
	})
	t.Run("no_url", func(t *testing.T) {
		code, _, errs := runCLI(t, append([]string{"inspect"}, admin...)...)
		if code != 2 || !strings.Contains(errs, "Usage: moat inspect") {
			t.Errorf("exit %d, stderr %q; want 2 and the usage", code, errs)
		}
	})
}
