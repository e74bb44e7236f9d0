package tracing

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exportTimeout bounds one OTLP export (with its retries).
const exportTimeout = 10 * time.Second

// failureLogInterval spaces the export-failure log lines: a collector that
// is down fails every batch, and one line a minute says as much.
const failureLogInterval = time.Minute

func (t *Tracing) newExporter(ctx context.Context, c Config, w io.Writer) (sdktrace.SpanExporter, error) {
	if c.Exporter == ExporterStdout {
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, fmt.Errorf("tracing: stdout exporter: %w", err)
		}
		return exp, nil
	}
	u, err := tracesURL(cmp.Or(c.Endpoint, DefaultEndpoint))
	if err != nil {
		return nil, fmt.Errorf("%w: endpoint: %v", ErrConfig, err)
	}
	// Our own client, not the exporter's shared package-level transport, so
	// that Shutdown can close its idle connections (and their goroutines).
	t.client = &http.Client{
		Timeout: exportTimeout,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          2,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
	}
	exp, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(u.String()),
		otlptracehttp.WithHTTPClient(t.client),
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
	}
	return exp, nil
}

// countingExporter counts exported and lost spans and logs export failures
// itself, at most once per failureLogInterval.
//
// It returns nil for a failed export on purpose: the SDK would otherwise
// hand the error to the global OpenTelemetry error handler, which writes
// to the standard log package, bypassing the injected logger.
type countingExporter struct {
	sdktrace.SpanExporter
	log              *slog.Logger
	exported, failed atomic.Uint64
	lastLog          atomic.Int64 // unix nanoseconds of the last failure line
	unlogged         atomic.Uint64
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	n := uint64(len(spans))
	if err == nil {
		e.exported.Add(n)
		return nil
	}
	e.failed.Add(n)
	e.unlogged.Add(n)
	now, last := time.Now().UnixNano(), e.lastLog.Load()
	if now-last >= int64(failureLogInterval) && e.lastLog.CompareAndSwap(last, now) {
		e.log.Warn("tracing: span export failed; spans dropped", "spans", e.unlogged.Swap(0), "err", err)
	}
	return nil
}
