package tracing_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/metrics"
	"github.com/moatproxy/moat/internal/tracing"
)

// Wiring tracing into a server: the gateway reports to both the metrics and
// the tracing Observer, and the Middleware wraps the gateway (not the admin
// listener). Shutdown comes after the http.Server's, to flush the spans of
// the last requests.
func Example() {
	ctx := context.Background()
	cfg := tracing.Config{Exporter: tracing.ExporterOTLP, Endpoint: "http://127.0.0.1:4318", Sample: 0.05}
	tr, err := tracing.New(ctx, cfg, nil, tracing.WithLogger(slog.Default()))
	if err != nil {
		panic(err)
	}
	met := metrics.New(prometheus.NewRegistry(), nil)
	origin, _ := url.Parse("http://127.0.0.1:3000")
	gw, err := gateway.New(gateway.Options{Origin: origin, Observer: tracing.Join(met, tr.Observer())})
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Addr: "127.0.0.1:8080", Handler: tr.Middleware(gw)}
	go func() { _ = srv.ListenAndServe() }()

	// ... and on the way out:
	shutdownCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	_ = tr.Shutdown(shutdownCtx)
	_ = gw.Close()
}
