package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/moatproxy/moat/gateway"
)

// BenchmarkRequest is the cost tracing adds to one request: the middleware
// and the Observer, around a handler that does nothing else.
func BenchmarkRequest(b *testing.B) {
	for _, bc := range []struct {
		name string
		c    Config
	}{
		{"off", Config{}},
		{"not_sampled", Config{Exporter: ExporterStdout, Sample: 1e-12}},
		{"sampled_stdout_discard", Config{Exporter: ExporterStdout, Sample: 1}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr, err := New(context.Background(), bc.c, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Shutdown(context.Background())
			obs := tr.Observer()
			h := tr.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				obs.Request(r, route, gateway.ResultHit, time.Microsecond)
			}))
			req := httptest.NewRequest(http.MethodGet, "http://moat.test/items/1", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, req)
			}
		})
	}
}
