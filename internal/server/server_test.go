package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/syncbuf"
)

type syncBuffer = syncbuf.Buffer

func TestServerLifecycleAndAccessLog(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	}))
	defer origin.Close()
	cfg, err := config.Parse([]byte("listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:0, token: tok}\norigin: {url: "+origin.URL+"}\n"), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	proxyAddr, adminAddr, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		resp, err := http.Get("http://" + proxyAddr + "/thing")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	resp, err := http.Get("http://" + adminAddr + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	out := logs.String()
	for _, want := range []string{"path=/thing proto=HTTP/1.1 status=200 route=\"(no route)\" cache=miss", "path=/thing proto=HTTP/1.1 status=200 route=\"(no route)\" cache=hit"} {
		if !strings.Contains(out, want) {
			t.Errorf("access log lacks %q:\n%s", want, out)
		}
	}
	if _, err := http.Get("http://" + proxyAddr + "/thing"); err == nil {
		t.Error("gateway still serving after Shutdown")
	}
}
