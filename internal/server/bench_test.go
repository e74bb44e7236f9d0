package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moatproxy/moat/internal/config"
)

type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkReloadableFront is what reloading costs every request: a hit
// through the server's front (the current configuration and its
// in-flight count) against the same hit handed to the gateway directly,
// from parallel goroutines (the count is one shared counter).
func BenchmarkReloadableFront(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(make([]byte, 1024))
	}))
	defer origin.Close()
	cfg, err := config.Parse([]byte("listen: 127.0.0.1:0\norigin: {url: "+origin.URL+"}\n"), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.cur.Load().gw.Close()
	req := httptest.NewRequest("GET", "http://api.example/hot", nil)
	srv.serveProxy(&discard{h: http.Header{}}, req)
	for _, c := range []struct {
		name  string
		serve func(http.ResponseWriter, *http.Request)
	}{
		{"gateway", srv.cur.Load().gw.ServeHTTP},
		{"front", srv.serveProxy},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := &discard{h: http.Header{}}
				r := req.Clone(req.Context())
				for pb.Next() {
					clear(w.h)
					c.serve(w, r)
				}
			})
		})
	}
}
