package server

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/gqltest"
)

// TestGraphQLRouteFromConfig: a config's graphql route serves GraphQL
// through the whole server, and its metrics are on /metrics.
func TestGraphQLRouteFromConfig(t *testing.T) {
	origin := gqltest.Start(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "schema.graphql"), []byte(gqltest.SDL()), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0, token: tok}\norigin: {url: " + origin.URL + "}\n" +
		"routes:\n  - match: /graphql\n    ttl: 1m\n    graphql: {schema: schema.graphql, keys: {Book: id}}\n"
	path := filepath.Join(dir, "moat.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr, adminAddr, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	var last *http.Response
	for range 2 {
		body := `{"query":"query Q { book(id: \"1\") { title } }"}`
		resp, err := http.Post("http://"+proxyAddr+"/graphql", "application/json", bytes.NewReader([]byte(body)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != `{"data":{"book":{"title":"Book 1"}}}` {
			t.Fatalf("answer %s", b)
		}
		last = resp
	}
	if last.Header.Get("X-Cache") != "HIT" {
		t.Fatalf("second request: %s", last.Header.Get("Cache-Status"))
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`moat_graphql_operations_total{kind="query",operation="Q",result="hit"} 1`,
		`moat_graphql_operations_total{kind="query",operation="Q",result="miss"} 1`,
		`moat_requests_total{result="hit",route="/graphql"} 1`,
	} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
