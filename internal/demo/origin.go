// Package demo is the origin behind `moat demo`: a small product and book
// catalog JSON API that stands for a real backend.
//
// Every /api request first sleeps a random MinLatency..MaxLatency (default
// 20-50 ms) to stand for database work, so the demo can show what a cache in
// front of it saves. Bodies are generated from the id in the URL, so the same
// URL always returns the same bytes until a write (PUT, POST or DELETE on a
// product) bumps that product's version. Each endpoint sends the caching
// headers of a different real-world case: public max-age, none at all,
// max-age=0, Vary, private no-store and no-cache with an ETag.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// maxTrackedPaths bounds the per-path counters: past it, new paths are
// counted only in Requests, so a client walking random URLs cannot grow
// memory without bound.
const maxTrackedPaths = 100_000

// Options configures an Origin. The zero value is a 1000-product catalog
// with 20-50 ms of simulated latency.
type Options struct {
	// MinLatency and MaxLatency bound the simulated database latency of each
	// /api request. Both zero means 20ms..50ms. A MaxLatency below MinLatency
	// is raised to MinLatency.
	MinLatency, MaxLatency time.Duration
	// NoLatency disables the simulated latency (tests).
	NoLatency bool
	// Seed seeds the latency draws, so a run with the same Seed sleeps the
	// same sequence of durations.
	Seed uint64
	// Products is the catalog size; ids run 1..Products. Zero means 1000.
	Products int
	// Now returns the current time for /api/time. Nil means time.Now.
	Now func() time.Time
	// Logger receives one record per write. Nil discards.
	Logger *slog.Logger
}

// Origin is the demo backend, an http.Handler safe for concurrent use.
type Origin struct {
	minLatency, maxLatency time.Duration
	now                    func() time.Time
	log                    *slog.Logger
	mux                    *http.ServeMux
	catalog                *catalog

	randMu sync.Mutex // guards rand: *rand.Rand is not safe for concurrent use
	rand   *rand.Rand

	requests atomic.Int64
	paths    sync.Map // path+query -> *atomic.Int64
	tracked  atomic.Int64
	maxPaths int64 // maxTrackedPaths; a field so tests can lower it
}

var _ http.Handler = (*Origin)(nil)

// NewOrigin returns an Origin configured by o, with its defaults applied.
func NewOrigin(o Options) *Origin {
	if o.MinLatency == 0 && o.MaxLatency == 0 {
		o.MinLatency, o.MaxLatency = 20*time.Millisecond, 50*time.Millisecond
	}
	if o.NoLatency {
		o.MinLatency, o.MaxLatency = 0, 0
	}
	o.MinLatency = max(o.MinLatency, 0)
	o.MaxLatency = max(o.MaxLatency, o.MinLatency)
	if o.Products <= 0 {
		o.Products = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	org := &Origin{
		minLatency: o.MinLatency,
		maxLatency: o.MaxLatency,
		now:        o.Now,
		log:        o.Logger,
		mux:        http.NewServeMux(),
		catalog:    newCatalog(o.Products),
		rand:       rand.New(rand.NewPCG(o.Seed, 0)),
		maxPaths:   maxTrackedPaths,
	}
	org.mux.HandleFunc("GET /api/products/{id}", org.product)
	org.mux.HandleFunc("GET /api/products", org.productPage)
	org.mux.HandleFunc("GET /api/catalog", org.catalogSummary)
	org.mux.HandleFunc("GET /api/books/{isbn}", org.book)
	org.mux.HandleFunc("GET /api/cart", org.cart)
	org.mux.HandleFunc("GET /api/time", org.time)
	for _, m := range []string{"PUT", "POST", "DELETE"} {
		org.mux.HandleFunc(m+" /api/products/{id}", org.writeProduct)
	}
	org.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok"))
	})
	return org
}

// ServeHTTP counts the request, sleeps the simulated latency and routes it.
// Health checks are neither counted nor delayed: they are not origin load.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		o.count(r.URL.Path, r.URL.RawQuery)
		if o.sleep(r.Context()) != nil {
			return // the client is gone; nobody reads the answer
		}
	}
	o.mux.ServeHTTP(w, r)
}

// Requests reports how many requests the origin has received, /healthz aside.
func (o *Origin) Requests() int64 { return o.requests.Load() }

// RequestsFor reports how many requests were received for path, which is
// matched with its query exactly as sent ("/api/products?page=2"). Only the
// first 100,000 distinct paths are tracked; later ones report 0.
func (o *Origin) RequestsFor(path string) int64 {
	if n, ok := o.paths.Load(path); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (o *Origin) count(path, query string) {
	o.requests.Add(1)
	if query != "" {
		path += "?" + query
	}
	n, ok := o.paths.Load(path)
	if !ok {
		// Reserve a slot before storing so that concurrent first requests
		// for different paths cannot overshoot the cap.
		if o.tracked.Add(1) > o.maxPaths {
			o.tracked.Add(-1)
			return
		}
		var loaded bool
		if n, loaded = o.paths.LoadOrStore(path, new(atomic.Int64)); loaded {
			o.tracked.Add(-1) // another request stored it first
		}
	}
	n.(*atomic.Int64).Add(1)
}

// delay draws the next simulated latency.
func (o *Origin) delay() time.Duration {
	o.randMu.Lock()
	defer o.randMu.Unlock()
	return o.minLatency + time.Duration(o.rand.Int64N(int64(o.maxLatency-o.minLatency)+1))
}

func (o *Origin) sleep(ctx context.Context) error {
	if o.maxLatency == 0 {
		return nil
	}
	t := time.NewTimer(o.delay())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// serveJSON sends v with a strong ETag hashed from its encoding and lets
// http.ServeContent answer If-None-Match and If-Modified-Since with 304
// (RFC 9110 section 13.1). A zero modtime sends no Last-Modified.
func serveJSON(w http.ResponseWriter, r *http.Request, cacheControl string, modtime time.Time, v any) {
	body := mustJSON(v)
	h := fnv.New64a()
	h.Write(body)
	if cacheControl != "" {
		w.Header().Set("Cache-Control", cacheControl)
	}
	w.Header().Set("ETag", `"`+strconv.FormatUint(h.Sum64(), 16)+`"`)
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, "", modtime, bytes.NewReader(body))
}

// writeJSON sends v unconditionally, for answers that carry no validator.
func writeJSON(w http.ResponseWriter, status int, cacheControl string, v any) {
	if cacheControl != "" {
		w.Header().Set("Cache-Control", cacheControl)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(mustJSON(v))
}

// notFound is cacheable briefly, as origins commonly make it, so a cache in
// front absorbs repeated lookups of a missing id.
func notFound(w http.ResponseWriter) {
	writeJSON(w, http.StatusNotFound, "public, max-age=10", map[string]string{"error": "not found"})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("demo: encoding a generated value: " + err.Error()) // only our own types reach here
	}
	return append(b, '\n')
}
