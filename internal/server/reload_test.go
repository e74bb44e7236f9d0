package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moatproxy/moat/internal/config"
)

func parseConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(text), "reload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestReloadUnderLoad: clients never see an error or a 5xx while the
// configuration is replaced forty times, an unchanged route is never
// fetched again, and every replaced configuration is closed.
func TestReloadUnderLoad(t *testing.T) {
	var originKeep atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/keep/") {
			originKeep.Add(1)
		}
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer target.Close()
	configText := func(i int) string {
		// Every other config changes the second route's ttl and the purge
		// targets (a new fan-out), never the first route.
		targets := ""
		if i%2 == 1 {
			targets = "purge_targets:\n  - url: " + target.URL + "\n"
		}
		return fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token: token-123456789}
origin: {url: %s}
%sroutes:
  - match: GET /keep/{id}
    ttl: 60s
    override_origin: true
  - match: GET /change/{id}
    ttl: %ds
    override_origin: true
`, origin.URL, targets, 10+i%2)
	}
	srv, err := New(parseConfig(t, configText(0)), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr, _, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func(p string) (int, string, error) {
		resp, err := client.Get("http://" + addr + p)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) != "body of "+p {
			err = fmt.Errorf("body %q", b)
		}
		return resp.StatusCode, resp.Header.Get("X-Cache"), err
	}
	for i := range 4 {
		get(fmt.Sprintf("/keep/%d", i))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var served, misses atomic.Int64
	var firstErr atomic.Value
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := fmt.Sprintf("/keep/%d", n%4)
				if n%3 == 0 {
					p = fmt.Sprintf("/change/%d", (n+w)%5)
				}
				status, x, err := get(p)
				if err == nil && status != 200 {
					err = fmt.Errorf("%s: status %d", p, status)
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if strings.HasPrefix(p, "/keep/") && x != "HIT" {
					misses.Add(1)
				}
				served.Add(1)
			}
		}()
	}
	for i := 1; i <= 40; i++ {
		if _, err := srv.Reload(parseConfig(t, configText(i))); err != nil {
			t.Fatal(err)
		}
		// Let requests reach this configuration before the next.
		for start := served.Load(); served.Load() < start+20 && firstErr.Load() == nil; {
			time.Sleep(time.Millisecond)
		}
	}
	close(stop)
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		t.Fatalf("a request failed across reloads: %v", err)
	}
	if n := misses.Load(); n != 0 {
		t.Errorf("%d requests of the unchanged route were not hits after reloads", n)
	}
	if n := originKeep.Load(); n != 4 {
		t.Errorf("origin requests for the unchanged route = %d, want 4 (one per URL)", n)
	}
	t.Logf("%d requests across 40 reloads", served.Load())
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Reload(parseConfig(t, configText(1))); err == nil {
		t.Error("Reload after Shutdown succeeded")
	}
}

// TestReloadRereadsFiles: a reload reads the JWKS file (a rotated signing
// key is accepted) and the TLS certificate again; a reload whose JWKS file
// is broken is refused and the previous keys go on.
func TestReloadRereadsFiles(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer origin.Close()
	dir := t.TempDir()
	jwksPath, certPath, keyPath := filepath.Join(dir, "jwks.json"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	k1, k2 := newECKey(t), newECKey(t)
	writeJWKS(t, jwksPath, "k1", k1)
	writeCert(t, certPath, keyPath, "first.test")
	text := fmt.Sprintf(`listen: 127.0.0.1:0
tls: {cert_file: %s, key_file: %s}
admin: {listen: 127.0.0.1:0, token: token-123456789}
origin: {url: %s}
auth:
  tiers: [anonymous, gold]
  jwt: {jwks_file: %s, tier_claim: tier}
routes:
  - match: GET /deals
    scope: tier
`, certPath, keyPath, origin.URL, jwksPath)
	srv, err := New(parseConfig(t, text), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	addr, adminAddr, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	tierOf := func(key *ecdsa.PrivateKey, kid string) string {
		t.Helper()
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"tier": "gold", "exp": time.Now().Add(time.Hour).Unix()})
		tok.Header["kid"] = kid
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		q := url.Values{"url": {"https://" + addr + "/deals"}, "header": {"Authorization:Bearer " + raw}}
		req, _ := http.NewRequest("GET", "http://"+adminAddr+"/api/inspect?"+q.Encode(), nil)
		req.Header.Set("Authorization", "Bearer token-123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var in struct {
			Tier string `json:"tier"`
		}
		json.NewDecoder(resp.Body).Decode(&in)
		return in.Tier
	}
	certName := func() string {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
	}
	if got := tierOf(k1, "k1"); got != "gold" {
		t.Fatalf("token of the JWKS key: tier %q", got)
	}
	if got := tierOf(k2, "k2"); got == "gold" {
		t.Fatalf("token of a key not in the JWKS got tier gold")
	}
	if got := certName(); got != "first.test" {
		t.Fatalf("certificate %q", got)
	}

	writeJWKS(t, jwksPath, "k2", k2) // rotation
	writeCert(t, certPath, keyPath, "second.test")
	if _, err := srv.Reload(parseConfig(t, text)); err != nil {
		t.Fatal(err)
	}
	if got := tierOf(k2, "k2"); got != "gold" {
		t.Errorf("token of the rotated key after the reload: tier %q, want gold", got)
	}
	if got := tierOf(k1, "k1"); got == "gold" {
		t.Errorf("token of the retired key after the reload still gold")
	}
	if got := certName(); got != "second.test" {
		t.Errorf("certificate after the reload: %q, want second.test", got)
	}

	cfg := parseConfig(t, text)
	os.WriteFile(jwksPath, []byte("{not json"), 0o600) // broken after validation, before the reload reads it
	if _, err := srv.Reload(cfg); err == nil || !strings.Contains(err.Error(), "jwks_file") {
		t.Fatalf("reload with a broken JWKS file: %v, want an error naming jwks_file", err)
	}
	if got := tierOf(k2, "k2"); got != "gold" {
		t.Errorf("after a refused reload the previous keys no longer verify: tier %q", got)
	}
}

func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeJWKS(t *testing.T, path, kid string, k *ecdsa.PrivateKey) {
	t.Helper()
	pub, err := k.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	raw := pub.Bytes() // 0x04 || X || Y
	enc := base64.RawURLEncoding.EncodeToString
	doc := map[string]any{"keys": []map[string]string{{
		"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
		"x": enc(raw[1:33]), "y": enc(raw[33:]),
	}}}
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeCert(t *testing.T, certPath, keyPath, cn string) {
	t.Helper()
	k := newECKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{cn},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
