package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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

// BenchmarkServerHit is a 1 KiB hit through the whole server over
// loopback: net/http, the one-write connection, the front and the
// gateway, with the hit appended to the connection whole. The client
// pipelines 16 requests at a time on one connection and counts answers in
// a fixed buffer, so the allocations reported are the server's (plus the
// runtime's), per hit.
func BenchmarkServerHit(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Header().Set("Content-Type", "application/json")
		w.Write(make([]byte, 1024))
	}))
	defer origin.Close()
	cfg, err := config.Parse([]byte("listen: 127.0.0.1:0\norigin: {url: "+origin.URL+"}\ncache: {compression: false}\n"), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	addr, _, err := srv.Start()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	const batch = 16
	req := []byte(strings.Repeat("GET /hot HTTP/1.1\r\nHost: api.example\r\n\r\n", batch))
	buf := make([]byte, 64<<10)
	marker := []byte("HTTP/1.1 200 OK\r\n")
	// exchange sends n batches and reads until n×batch answers arrived.
	exchange := func(n int) {
		for range n {
			if _, err := c.Write(req); err != nil {
				b.Fatal(err)
			}
			seen, tail := 0, 0
			for seen < batch {
				m, err := c.Read(buf[tail:])
				if err != nil {
					b.Fatal(err)
				}
				// Count markers, keeping a marker's worth of bytes that
				// may hold one split across reads.
				end := tail + m
				seen += bytes.Count(buf[:end], marker)
				keep := min(end, len(marker)-1)
				copy(buf, buf[end-keep:end])
				tail = keep
			}
		}
	}
	exchange(2) // the miss, then hits
	b.ReportAllocs()
	b.ResetTimer()
	rounds := max(b.N/batch, 1)
	exchange(rounds)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rounds*batch), "ns/hit")
}
