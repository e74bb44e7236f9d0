package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/demo"
	"github.com/moatproxy/moat/internal/server"
)

// moat is a running gateway with its admin listener, in front of the demo
// origin.
type moat struct {
	proxy  string // base URL of the gateway, "http://127.0.0.1:port"
	admin  string // base URL of the admin listener
	token  string // admin bearer token
	client *http.Client
}

// routesYAML are the routes of the test config: products are tagged so
// that one purge by tag empties them.
const routesYAML = `routes:
  - match: GET /api/products/{id}
    ttl: 5m
    tags: ["product:{id}", products]
`

// startMoat starts the demo origin and a moat in front of it, with extra
// YAML appended to the config (more routes, or other top-level keys), and
// stops both when the test ends.
func startMoat(t *testing.T, origin demo.Options, extra string) *moat {
	t.Helper()
	originSrv := httptest.NewServer(demo.NewOrigin(origin))
	t.Cleanup(originSrv.Close)

	token := randomHex(t, 16)
	yaml := fmt.Sprintf("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0, token: %s}\norigin: {url: %s}\n%s%s",
		token, originSrv.URL, routesYAML, extra)
	cfg, err := config.Parse([]byte(yaml), "browsertest.yaml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	proxyAddr, adminAddr, err := srv.Start()
	if err != nil {
		t.Fatalf("server.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server.Shutdown: %v", err)
		}
	})
	client := &http.Client{Timeout: 5 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	return &moat{proxy: "http://" + proxyAddr, admin: "http://" + adminAddr, token: token, client: client}
}

// get sends GET path through the gateway and returns the X-Cache answer.
func (m *moat) get(path string) (string, error) {
	res, err := m.client.Get(m.proxy + path)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return "", fmt.Errorf("GET %s: %w", path, err)
	}
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d, want 200", path, res.StatusCode)
	}
	return res.Header.Get("X-Cache"), nil
}

// checkServesDashboard fails the test at once, with the fix, when the
// admin listener does not serve the page at "/" without a token.
func (m *moat) checkServesDashboard(t *testing.T) {
	t.Helper()
	res, err := m.client.Get(m.admin + "/")
	if err != nil {
		t.Fatalf("GET admin /: %v", err)
	}
	res.Body.Close()
	if ct := res.Header.Get("Content-Type"); res.StatusCode != http.StatusOK || !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("GET admin / without a token: status %d, Content-Type %q; want 200 text/html: "+
			"the admin listener must serve ui.Handler() at / and /assets/ (admin.Options.UI)", res.StatusCode, ct)
	}
}

// purge sends a purge request (JSON) to the admin API and returns the
// number of entries it affected.
func (m *moat) purge(body string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, m.admin+"/purge", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := m.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	var out struct {
		Affected int    `json:"affected"`
		Error    string `json:"error"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("purge %s: status %d: %w", body, res.StatusCode, err)
	}
	if res.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("purge %s: status %d: %s", body, res.StatusCode, out.Error)
	}
	return out.Affected, nil
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
