// Package tracing is moat's optional OpenTelemetry tracing. It lives in its
// own package so that embedding the gateway does not pull in OpenTelemetry:
// only the server imports it, and only builds a provider when tracing is
// configured.
//
// Data flow: [Tracing.Middleware] decides whether a client request is
// sampled (its W3C traceparent's flag, or a draw at Config.Sample) and, if
// it is, hands it to otelhttp, which starts a server span continuing the
// client's trace. The gateway hands the same request to its Observer once
// the answer is written; [Tracing.Observer] then names the span after the
// route ("moat GET /api/products/{id}") and records the cache result
// (moat.cache.result) and route (moat.route). Ended spans go to the
// exporter: OTLP over HTTP in batches, or stdout (one JSON object per span)
// for debugging. [Tracing.Shutdown] flushes what is queued.
//
// Nothing here touches the OpenTelemetry globals (otel.SetTracerProvider,
// the global propagator and meter provider): the provider, the W3C
// propagator and a no-op meter provider are passed to otelhttp explicitly.
package tracing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"sync"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Exporters, the values of Config.Exporter.
const (
	ExporterNone   = "none"   // no tracing (also "")
	ExporterStdout = "stdout" // JSON spans on the writer given to New, for debugging
	ExporterOTLP   = "otlp"   // OTLP/HTTP (protobuf) to Config.Endpoint
)

// Defaults for the zero values of Config.
const (
	DefaultSample      = 0.01
	DefaultServiceName = "moat"
	DefaultEndpoint    = "http://127.0.0.1:4318"
)

// ErrConfig is wrapped by every error Config.Validate returns.
var ErrConfig = errors.New("tracing: invalid config")

// Config is the `tracing:` section of moat.yaml. The zero Config means no
// tracing.
type Config struct {
	// Exporter is "" or "none" (the default: tracing off), "stdout" (spans
	// as JSON lines, for debugging) or "otlp" (OTLP over HTTP).
	Exporter string `yaml:"exporter"`
	// Endpoint is the OTLP/HTTP collector URL, e.g. http://127.0.0.1:4318.
	// A URL without a path gets the standard /v1/traces; a URL with a path
	// is used as it is. https uses TLS. Default http://127.0.0.1:4318.
	// Headers (e.g. an API key) come from the standard
	// OTEL_EXPORTER_OTLP_HEADERS environment variable.
	Endpoint string `yaml:"endpoint"`
	// Sample is the share of new traces recorded, from 0 to 1, for requests
	// that arrive without a trace context. A request with a W3C traceparent
	// follows its parent's decision. Default (0) means 0.01, i.e. 1%.
	Sample float64 `yaml:"sample"`
	// ServiceName is the service.name resource attribute. Default "moat".
	ServiceName string `yaml:"service_name"`
}

// Enabled reports whether c asks for tracing.
func (c Config) Enabled() bool { return c.Exporter != "" && c.Exporter != ExporterNone }

// Validate checks c; every error names the key under `tracing:` and wraps
// ErrConfig.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...))
	}
	switch c.Exporter {
	case "", ExporterNone, ExporterStdout, ExporterOTLP:
	default:
		bad("exporter: unknown exporter %q (want none, stdout or otlp)", c.Exporter)
	}
	if math.IsNaN(c.Sample) || c.Sample < 0 || c.Sample > 1 {
		bad("sample: must be from 0 to 1 (e.g. 0.05 for 5%%), got %v", c.Sample)
	}
	if c.Endpoint != "" {
		if _, err := tracesURL(c.Endpoint); err != nil {
			bad("endpoint: %v", err)
		}
	}
	return errors.Join(errs...)
}

// tracesURL is the URL OTLP/HTTP spans are POSTed to.
func tracesURL(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q", endpoint)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("want an http:// or https:// URL with a host, e.g. %s, got %q", DefaultEndpoint, endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces" // as OTEL_EXPORTER_OTLP_ENDPOINT: the base URL of all signals
	}
	return u, nil
}

// Option configures New beyond the YAML Config.
type Option func(*options)

type options struct{ log *slog.Logger }

// WithLogger sets the logger export failures are reported to. If not
// given, slog.Default() is used.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// Tracing owns a TracerProvider and its exporter. A nil or zero *Tracing,
// and one built from a Config with tracing off, is a no-op: Middleware
// returns the handler unchanged and Shutdown does nothing.
type Tracing struct {
	provider   *sdktrace.TracerProvider // nil when off
	propagator propagation.TextMapPropagator
	ratio      float64 // of new traces sampled (see sampled)
	exporter   *countingExporter
	client     *http.Client // the OTLP client, whose idle connections Shutdown closes

	shutdown sync.Once
}

// New validates c and builds its TracerProvider. w receives the spans of
// the stdout exporter (if nil, os.Stdout). ctx bounds the exporter's setup
// only. New registers nothing globally; call Shutdown when done.
func New(ctx context.Context, c Config, w io.Writer, opts ...Option) (*Tracing, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return &Tracing{}, nil
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	t := &Tracing{propagator: propagation.TraceContext{}, ratio: cmp.Or(c.Sample, DefaultSample)}
	if w == nil {
		w = os.Stdout
	}
	exp, err := t.newExporter(ctx, c, w)
	if err != nil {
		return nil, err
	}
	t.exporter = &countingExporter{SpanExporter: exp, log: cmp.Or(o.log, slog.Default())}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(cmp.Or(c.ServiceName, DefaultServiceName)))
	// The stdout exporter is for watching spans as they happen: written on
	// the request path, not batched. OTLP exports in the background.
	// (WithBatcher starts its goroutine when called: call only the one used.)
	var process sdktrace.TracerProviderOption
	if c.Exporter == ExporterStdout {
		process = sdktrace.WithSyncer(t.exporter)
	} else {
		process = sdktrace.WithBatcher(t.exporter)
	}
	t.provider = sdktrace.NewTracerProvider(
		process,
		sdktrace.WithResource(res),
		// Middleware has sampled already; see Tracing.sampled.
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
	)
	return t, nil
}

func (t *Tracing) enabled() bool { return t != nil && t.provider != nil }

// Shutdown flushes the spans still queued to the exporter (until ctx ends)
// and stops it. It is idempotent: later calls return nil.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.enabled() {
		return nil
	}
	var err error
	t.shutdown.Do(func() {
		err = t.provider.Shutdown(ctx)
		if t.client != nil {
			t.client.CloseIdleConnections()
		}
	})
	if err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Stats are counts of spans handed to the exporter.
type Stats struct {
	Exported uint64 // spans the exporter accepted
	Failed   uint64 // spans lost to export errors (logged)
}

// Stats returns the export counts since New; zero when tracing is off.
func (t *Tracing) Stats() Stats {
	if !t.enabled() {
		return Stats{}
	}
	return Stats{Exported: t.exporter.exported.Load(), Failed: t.exporter.failed.Load()}
}
