package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/moatproxy/moat/internal/config"
)

type adminFixture struct {
	proxy, admin string
	token        string
}

func startAdminFixture(t *testing.T) adminFixture {
	t.Helper()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/private"):
			w.Header().Set("Cache-Control", "no-store")
		default:
			w.Header().Set("Cache-Control", "max-age=60")
		}
		fmt.Fprint(w, r.URL.Path)
	}))
	t.Cleanup(origin.Close)
	token := "admin-token-0123456789"
	cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token: %s}
origin: {url: %s}
auth:
  tiers: [anonymous, free, premium]
  jwt: {hs256_secret: "%s"}
routes:
  - match: GET /a/{id}
    tags: ["a:{id}"]
  - match: GET /deals
    scope: tier
`, token, origin.URL, testSecret)), "admin.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	proxy, admin, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return adminFixture{proxy: proxy, admin: admin, token: token}
}

func (f adminFixture) adminGet(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+f.admin+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f adminFixture) get(t *testing.T, path string, hdr ...string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+f.proxy+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

// TestMetricsMove scripts hits, misses and a purge and reads the values
// back from /metrics.
func TestMetricsMove(t *testing.T) {
	f := startAdminFixture(t)
	f.get(t, "/a/1") // miss
	f.get(t, "/a/1") // hit
	f.get(t, "/a/1") // hit
	f.get(t, "/a/2") // miss
	f.get(t, "/private/x")
	req, _ := http.NewRequest("POST", "http://"+f.admin+"/purge", strings.NewReader(`{"tags":["a:1"]}`))
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("purge: %v %v", resp, err)
	}
	resp.Body.Close()
	f.get(t, "/a/1") // miss again after the purge

	_, body := f.adminGet(t, "/metrics", f.token)
	for _, want := range []string{
		`moat_requests_total{result="hit",route="GET /a/{id}"} 2`,
		`moat_requests_total{result="miss",route="GET /a/{id}"} 3`,
		`moat_requests_total{result="miss",route="(no route)"} 1`,
		`moat_origin_requests_total{code="2xx",route="GET /a/{id}"} 3`,
		`moat_invalidations_total{kind="api"} 1`,
		`moat_invalidated_entries_total{kind="api"} 1`,
		`moat_cache_entries{tier="l1"}`,
		`moat_coalesced_waiters_total 0`,
		`moat_refreshes_total{cause="swr"} 0`,
		`moat_request_duration_seconds_bucket{route="GET /a/{id}",le="`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "/a/1") || strings.Contains(body, "/private/x") {
		t.Error("a raw URL leaked into metric labels")
	}

	_, stats := f.adminGet(t, "/api/stats", f.token)
	var s struct {
		Totals struct {
			Requests, Hits uint64
			HitRatio       float64 `json:"hit_ratio"`
		}
	}
	if err := json.Unmarshal([]byte(stats), &s); err != nil || s.Totals.Requests != 6 || s.Totals.Hits != 2 {
		t.Errorf("/api/stats totals %+v (%v): want 6 requests, 2 hits", s.Totals, err)
	}
}

func TestAdminAuthAndInspect(t *testing.T) {
	f := startAdminFixture(t)
	for _, path := range []string{"/api/stats", "/api/keys", "/api/routes", "/api/inspect?url=http://x/a/1", "/metrics", "/purge", "/nope"} {
		if code, _ := f.adminGet(t, path, ""); code != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d, want 401", path, code)
		}
		if code, _ := f.adminGet(t, path, "wrong-token"); code != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d, want 401", path, code)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := f.adminGet(t, path, ""); code != 200 {
			t.Errorf("GET %s: %d, want 200 without a token", path, code)
		}
	}

	f.get(t, "/a/7")
	f.get(t, "/private/y")
	inspect := func(target string, headers ...string) map[string]any {
		q := url.Values{"url": {"http://" + f.proxy + target}}
		for _, h := range headers {
			q.Add("header", h)
		}
		code, body := f.adminGet(t, "/api/inspect?"+q.Encode(), f.token)
		if code != 200 {
			t.Fatalf("inspect %s: %d %s", target, code, body)
		}
		var m map[string]any
		json.Unmarshal([]byte(body), &m)
		return m
	}
	if m := inspect("/a/7"); m["stored"] != true || !strings.HasPrefix(m["verdict"].(string), "hit") || m["route"] != "GET /a/{id}" {
		t.Errorf("stored entry: %v", m)
	}
	if m := inspect("/a/7", "Authorization: Bearer abc"); !strings.Contains(m["verdict"].(string), "Authorization") {
		t.Errorf("Authorization bypass not explained: %v", m["verdict"])
	}
	if m := inspect("/private/y"); !strings.Contains(fmt.Sprint(m["not_stored_reason"]), "no-store") {
		t.Errorf("no-store not explained: %v", m)
	}
	tok := token(t, testSecret, "premium", timeNowPlusHour())
	m := inspect("/deals", "Authorization: Bearer "+tok)
	if m["scope"] != "tier" || m["tier"] != "premium" || strings.Contains(fmt.Sprint(m["key"]), tok) {
		t.Errorf("tier-scoped inspect: %v", m)
	}
}
