package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moatproxy/moat/internal/config"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-secret"

func token(t *testing.T, secret, tier string, exp time.Time) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "u-" + tier, "tier": tier, "exp": exp.Unix()}).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTierScopeWithRealJWTs runs a real server against an origin that
// verifies tokens itself and answers per tier: premium and anonymous
// callers always get their own answers, under concurrency, and forged or
// expired tokens never receive a cached premium body.
func TestTierScopeWithRealJWTs(t *testing.T) {
	var mu sync.Mutex
	originSaw := map[string]int{}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tier := "anonymous"
		if raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
			tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte(testSecret), nil }, jwt.WithValidMethods([]string{"HS256"}))
			if err != nil {
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, "unauthorized")
				return
			}
			tier = tok.Claims.(jwt.MapClaims)["tier"].(string)
		}
		mu.Lock()
		originSaw[tier]++
		mu.Unlock()
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "deals for %s", tier)
	}))
	defer origin.Close()
	cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: %s}
auth:
  tiers: [anonymous, free, premium]
  jwt: {hs256_secret: "%s", tier_claim: tier}
routes:
  - match: GET /deals
    scope: tier
`, origin.URL, testSecret)), "auth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr, _, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	get := func(bearer string) (string, string, int) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/deals", nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return "", "", 0
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("X-Cache"), resp.StatusCode
	}
	premium := token(t, testSecret, "premium", time.Now().Add(time.Hour))
	var wg sync.WaitGroup
	var wrong sync.Map
	for i := range 120 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				if body, _, _ := get(premium); body != "deals for premium" {
					wrong.Store(i, body)
				}
			} else if body, _, _ := get(""); body != "deals for anonymous" {
				wrong.Store(i, body)
			}
		}()
	}
	wg.Wait()
	wrong.Range(func(k, v any) bool { t.Errorf("request %v got %q", k, v); return true })
	mu.Lock()
	if originSaw["premium"] != 1 || originSaw["anonymous"] != 1 {
		t.Errorf("origin requests per tier = %v, want one each", originSaw)
	}
	mu.Unlock()

	for name, tok := range map[string]string{
		"forged":  token(t, "another-secret-another-secret-another!!", "premium", time.Now().Add(time.Hour)),
		"expired": token(t, testSecret, "premium", time.Now().Add(-time.Hour)),
		"garbage": "not.a.jwt",
	} {
		body, xcache, status := get(tok)
		if strings.Contains(body, "premium") || xcache != "BYPASS" || status != http.StatusUnauthorized {
			t.Errorf("%s token: %d %s %q; want the origin's own 401, uncached", name, status, xcache, body)
		}
	}
}

func timeNowPlusHour() time.Time { return time.Now().Add(time.Hour) }

// TestTrustedHeaderBehindTrustedProxy: with trusted_proxies, the auth
// proxy's address is read from the X-Forwarded-For the trusted load
// balancer appended; a client's own X-Forwarded-For entries, and
// X-Forwarded-For from an untrusted peer, are never believed.
func TestTrustedHeaderBehindTrustedProxy(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "deals")
	}))
	defer origin.Close()
	start := func(trusted string) string {
		cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: %s}
%s
auth:
  tiers: [anonymous, gold]
  trusted_header: {header: X-User-Tier, from: [192.0.2.10]}
routes:
  - match: GET /deals
    scope: tier
`, origin.URL, trusted)), "auth.yaml")
		if err != nil {
			t.Fatal(err)
		}
		srv, err := New(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		addr, _, err := srv.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Shutdown(context.Background()) })
		return addr
	}
	// A verified tier uses the cache (MISS, then HIT); a forged tier
	// header is refused the cache (BYPASS).
	status := func(addr, xff string) string {
		req, _ := http.NewRequest("GET", "http://"+addr+"/deals", nil)
		req.Header.Set("X-User-Tier", "gold")
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Cache")
	}
	behind := start("trusted_proxies: [127.0.0.1]")
	if got := status(behind, "192.0.2.10"); got != "MISS" {
		t.Errorf("auth proxy behind a trusted load balancer: %s, want MISS", got)
	}
	if got := status(behind, "203.0.113.5"); got != "BYPASS" {
		t.Errorf("a client behind the load balancer set the tier header itself: %s", got)
	}
	if got := status(behind, "192.0.2.10, 203.0.113.5"); got != "BYPASS" {
		t.Errorf("a client that wrote the auth proxy's address into X-Forwarded-For: %s", got)
	}
	direct := start("")
	if got := status(direct, "192.0.2.10"); got != "BYPASS" {
		t.Errorf("X-Forwarded-For believed from a peer that is not a trusted proxy: %s", got)
	}
}
