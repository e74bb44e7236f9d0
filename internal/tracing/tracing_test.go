package tracing

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/policy"
)

const route = "GET /items/{id}"

// newGateway is a gateway in front of an origin whose answers may be
// cached for a minute, with one route, observed by obs.
func newGateway(t *testing.T, obs gateway.Observer) *gateway.Handler {
	t.Helper()
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = io.WriteString(w, "item")
	}))
	t.Cleanup(origin.Close)
	u, _ := url.Parse(origin.URL)
	tbl, err := policy.New([]policy.Policy{{Pattern: route}})
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Origin: u, Policies: tbl, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	return gw
}

func get(t *testing.T, h http.Handler, path string, hdr ...string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://moat.test"+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.String() != "item" {
		t.Fatalf("GET %s: got %d %q, want 200 \"item\"", path, rec.Code, rec.Body.String())
	}
}

// stdoutSpan is the part of the stdout exporter's JSON we check.
type stdoutSpan struct {
	Name        string
	SpanContext struct{ TraceID string }
	Parent      struct{ TraceID, SpanID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s stdoutSpan) attr(key string) any {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Value
		}
	}
	return nil
}

func decodeSpans(t *testing.T, out *bytes.Buffer) []stdoutSpan {
	t.Helper()
	var spans []stdoutSpan
	dec := json.NewDecoder(out)
	for dec.More() {
		var s stdoutSpan
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("stdout exporter output: %v", err)
		}
		spans = append(spans, s)
	}
	return spans
}

func TestStdoutSpansCarryCacheResult(t *testing.T) {
	checkNoLeak(t)
	var out bytes.Buffer
	tr, err := New(context.Background(), Config{Exporter: ExporterStdout, Sample: 1}, &out)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Middleware(newGateway(t, tr.Observer()))
	get(t, h, "/items/1") // miss: fetched and stored
	get(t, h, "/items/1") // hit
	get(t, h, "/other")   // no route: stored by plain RFC 9111 rules, a miss
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	spans := decodeSpans(t, &out)
	want := []struct {
		name, result string
		route        any
	}{
		{"moat " + route, "miss", route},
		{"moat " + route, "hit", route},
		{"moat", "miss", nil},
	}
	if len(spans) != len(want) {
		t.Fatalf("got %d spans, want %d:\n%s", len(spans), len(want), out.String())
	}
	for i, w := range want {
		s := spans[i]
		if s.Name != w.name {
			t.Errorf("span %d: got name %q, want %q", i, s.Name, w.name)
		}
		if got := s.attr(string(AttrCacheResult)); got != w.result {
			t.Errorf("span %d: got %s %v, want %q", i, AttrCacheResult, got, w.result)
		}
		if got := s.attr(string(AttrRoute)); got != w.route {
			t.Errorf("span %d: got %s %v, want %v", i, AttrRoute, got, w.route)
		}
	}
	if got := spans[0].attr("http.route"); got != "/items/{id}" {
		t.Errorf("got http.route %v, want /items/{id}", got)
	}
	if got := tr.Stats(); got.Exported != 3 || got.Failed != 0 {
		t.Errorf("got stats %+v, want 3 exported, 0 failed", got)
	}
}

func TestSamplerFollowsParent(t *testing.T) {
	var out bytes.Buffer
	// A ratio so low that a root span is never sampled in this test.
	tr, err := New(context.Background(), Config{Exporter: ExporterStdout, Sample: 1e-12}, &out)
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Middleware(newGateway(t, tr.Observer()))
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	get(t, h, "/items/1")                                                  // no parent: not sampled
	get(t, h, "/items/1", "traceparent", "00-"+traceID+"-"+parentID+"-00") // parent not sampled
	get(t, h, "/items/2", "traceparent", "00-"+traceID+"-"+parentID+"-01") // parent sampled
	get(t, h, "/items/2", "traceparent", "00-"+traceID+"-"+parentID+"-01") // again (a hit)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := decodeSpans(t, &out)
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want the 2 with a sampled parent:\n%s", len(spans), out.String())
	}
	for _, s := range spans {
		if s.SpanContext.TraceID != traceID || s.Parent.SpanID != parentID {
			t.Errorf("got trace %s parent %s, want trace %s parent %s", s.SpanContext.TraceID, s.Parent.SpanID, traceID, parentID)
		}
	}
}

func TestSampleRatio(t *testing.T) {
	tr, err := New(context.Background(), Config{Exporter: ExporterStdout, Sample: 0.25}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var reached int
	h := tr.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached++ }))
	const n = 4000
	for range n {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Binomial(4000, 0.25): mean 1000, standard deviation 27.
	if got := tr.Stats().Exported; got < 850 || got > 1150 {
		t.Errorf("got %d of %d requests traced at sample 0.25, want about 1000", got, n)
	}
	if reached != n {
		t.Errorf("got %d requests through, want all %d (sampled or not)", reached, n)
	}
}

// collector is an OTLP/HTTP trace receiver on loopback.
type collector struct {
	*httptest.Server
	status int
	mu     sync.Mutex
	paths  []string
	spans  []map[string]string // attributes of every span received
}

func newCollector(t *testing.T, status int) *collector {
	c := &collector{status: status}
	c.Server = httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) serve(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(raw, &req)
	}
	if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad OTLP request", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.paths = append(c.paths, r.Method+" "+r.URL.Path)
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				attrs := map[string]string{"name": s.Name}
				for _, a := range rs.Resource.GetAttributes() {
					attrs[a.Key] = a.Value.GetStringValue()
				}
				for _, a := range s.Attributes {
					attrs[a.Key] = a.Value.GetStringValue()
				}
				c.spans = append(c.spans, attrs)
			}
		}
	}
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(c.status)
}

func TestOTLPExportReachesCollector(t *testing.T) {
	checkNoLeak(t)
	col := newCollector(t, http.StatusOK)
	tr, err := New(context.Background(), Config{Exporter: ExporterOTLP, Endpoint: col.URL, Sample: 1, ServiceName: "moat-test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	gw := newGateway(t, tr.Observer())
	h := tr.Middleware(gw)
	get(t, h, "/items/7")
	get(t, h, "/items/7")
	gw.Close() // its idle origin connections, so that only the exporter's could remain

	col.mu.Lock()
	early := len(col.paths)
	col.mu.Unlock()
	if early != 0 {
		t.Fatalf("got %d exports before Shutdown, want the batch held until the flush", early)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: got %v, want nil", err)
	}
	// With the collector still up, nothing but Shutdown closes the
	// exporter's keep-alive connection.
	waitNoClientConns(t)

	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.paths) != 1 || col.paths[0] != "POST /v1/traces" {
		t.Fatalf("collector got %q, want one POST /v1/traces", col.paths)
	}
	if len(col.spans) != 2 {
		t.Fatalf("collector got %d spans, want 2", len(col.spans))
	}
	for i, want := range []string{"miss", "hit"} {
		s := col.spans[i]
		if s[string(AttrCacheResult)] != want || s[string(AttrRoute)] != route || s["name"] != "moat "+route || s["service.name"] != "moat-test" {
			t.Errorf("span %d: got %v, want name %q, %s=%s, %s=%s, service.name=moat-test", i, s, "moat "+route, AttrCacheResult, want, AttrRoute, route)
		}
	}
}

func TestExportFailureIsCountedAndLogged(t *testing.T) {
	col := newCollector(t, http.StatusBadRequest) // not retried
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tr, err := New(context.Background(), Config{Exporter: ExporterOTLP, Endpoint: col.URL + "/custom/path", Sample: 1}, nil, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Middleware(newGateway(t, tr.Observer()))
	get(t, h, "/items/1")
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: got %v, want nil (export failures are logged, not returned)", err)
	}
	if got := tr.Stats(); got.Failed != 1 || got.Exported != 0 {
		t.Errorf("got stats %+v, want 1 failed", got)
	}
	if !strings.Contains(logs.String(), "span export failed") {
		t.Errorf("got log %q, want a span export failure", logs.String())
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if len(col.paths) != 1 || col.paths[0] != "POST /custom/path" {
		t.Errorf("collector got %q, want POST /custom/path (an endpoint path is kept)", col.paths)
	}
}

type passThrough struct{ called *bool }

func (p passThrough) ServeHTTP(http.ResponseWriter, *http.Request) { *p.called = true }

func TestOffIsANoOp(t *testing.T) {
	for name, tr := range map[string]func(t *testing.T) *Tracing{
		"zero_config": func(t *testing.T) *Tracing { return mustNew(t, Config{}) },
		"none": func(t *testing.T) *Tracing {
			return mustNew(t, Config{Exporter: ExporterNone, Endpoint: "http://x:4318"})
		},
		"nil":        func(*testing.T) *Tracing { return nil },
		"zero_value": func(*testing.T) *Tracing { return &Tracing{} },
	} {
		t.Run(name, func(t *testing.T) {
			tr := tr(t)
			var called bool
			next := passThrough{&called}
			h := tr.Middleware(next)
			if h != http.Handler(next) {
				t.Errorf("Middleware: got %T, want the handler itself", h)
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			if !called {
				t.Error("request did not reach the handler")
			}
			obs := tr.Observer()
			obs.Request(httptest.NewRequest(http.MethodGet, "/", nil), route, gateway.ResultHit, time.Millisecond)
			obs.Origin(route, 200, time.Millisecond, nil)
			if err := tr.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: got %v, want nil", err)
			}
			if got := tr.Stats(); got != (Stats{}) {
				t.Errorf("Stats: got %+v, want zero", got)
			}
		})
	}
}

func mustNew(t *testing.T, c Config) *Tracing {
	t.Helper()
	tr, err := New(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string // "" for valid
	}{
		{"zero", Config{}, ""},
		{"otlp_defaults", Config{Exporter: ExporterOTLP}, ""},
		{"otlp_https_path", Config{Exporter: ExporterOTLP, Endpoint: "https://otel.example.com/otlp/v1/traces", Sample: 1}, ""},
		{"unknown_exporter", Config{Exporter: "jaeger"}, `exporter: unknown exporter "jaeger" (want none, stdout or otlp)`},
		{"sample_above_one", Config{Exporter: ExporterStdout, Sample: 5}, "sample: must be from 0 to 1 (e.g. 0.05 for 5%), got 5"},
		{"sample_negative", Config{Sample: -0.1}, "sample: must be from 0 to 1"},
		{"endpoint_without_scheme", Config{Exporter: ExporterOTLP, Endpoint: "localhost:4318"}, "endpoint: want an http:// or https:// URL with a host"},
		{"endpoint_grpc_scheme", Config{Exporter: ExporterOTLP, Endpoint: "grpc://collector:4317"}, "endpoint: want an http:// or https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an ErrConfig containing %q", err, tc.want)
			}
			if _, err := New(context.Background(), tc.c, nil); !errors.Is(err, ErrConfig) {
				t.Errorf("New: got %v, want ErrConfig", err)
			}
		})
	}
}

// recorder is an Observer that also times lookups, like the metrics.
type recorder struct {
	mu                       sync.Mutex
	requests, origins, looks int
}

func (r *recorder) Request(*http.Request, string, gateway.Result, time.Duration) {
	r.mu.Lock()
	r.requests++
	r.mu.Unlock()
}

func (r *recorder) Origin(string, int, time.Duration, error) {
	r.mu.Lock()
	r.origins++
	r.mu.Unlock()
}

func (r *recorder) Lookup(time.Duration) {
	r.mu.Lock()
	r.looks++
	r.mu.Unlock()
}

func TestJoin(t *testing.T) {
	t.Run("single_is_itself", func(t *testing.T) {
		rec := &recorder{}
		if got := Join(nil, rec, (*Tracing)(nil).Observer()); got != gateway.Observer(rec) {
			t.Errorf("got %T, want the one observer itself", got)
		}
	})
	t.Run("forwards_every_event", func(t *testing.T) {
		a, b := &recorder{}, &recorder{}
		j := Join(a, spanObserver{}, b)
		j.Request(httptest.NewRequest(http.MethodGet, "/", nil), route, gateway.ResultMiss, time.Millisecond)
		j.Origin(route, 200, time.Millisecond, nil)
		l, ok := j.(gateway.LookupObserver)
		if !ok {
			t.Fatal("joined observer is not a gateway.LookupObserver")
		}
		l.Lookup(time.Microsecond)
		for i, r := range []*recorder{a, b} {
			if r.requests != 1 || r.origins != 1 || r.looks != 1 {
				t.Errorf("observer %d: got %d requests, %d origins, %d lookups, want 1 each", i, r.requests, r.origins, r.looks)
			}
		}
	})
	t.Run("through_the_gateway", func(t *testing.T) {
		var out bytes.Buffer
		tr, err := New(context.Background(), Config{Exporter: ExporterStdout, Sample: 1}, &out)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		h := tr.Middleware(newGateway(t, Join(rec, tr.Observer())))
		get(t, h, "/items/1")
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rec.requests != 1 || rec.origins != 1 {
			t.Errorf("metrics observer: got %d requests, %d origins, want 1 and 1", rec.requests, rec.origins)
		}
		if spans := decodeSpans(t, &out); len(spans) != 1 || spans[0].attr(string(AttrCacheResult)) != "miss" {
			t.Errorf("got spans %+v, want one with %s=miss", spans, AttrCacheResult)
		}
	})
}

// waitNoClientConns fails the test if HTTP client connections (and their
// goroutines) stay open.
func waitNoClientConns(t *testing.T) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(2 * time.Second)
	for {
		stacks := string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "net/http.(*persistConn)") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("HTTP client connections still open after Shutdown:\n%s", stacks)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkNoLeak, called first in a test, fails it if more goroutines remain
// once the test and its cleanups (servers, gateway) are done: cleanups run
// last-registered first, so this one runs after all the others.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("got %d goroutines after Shutdown, want at most %d:\n%s", n, before, buf[:runtime.Stack(buf, true)])
		}
	})
}
