package books

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
)

// proxyConfig is the moat config shipped with the example.
const proxyConfig = "../moat.yaml"

// TestProxyConfigValidates loads examples/books/moat.yaml as `moat
// validate --strict` does: no error, no warning, a route for each read and
// each write, tags read from Surrogate-Key.
func TestProxyConfigValidates(t *testing.T) {
	cfg, err := config.Load(proxyConfig)
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) > 0 {
		t.Errorf("warnings: %v", w)
	}
	var routes []string
	for _, r := range cfg.Routes {
		routes = append(routes, r.Match)
	}
	for _, want := range []string{"GET /books", "GET /books/{id}", "GET /authors/{id}/books", "GET /search",
		"POST /books", "PUT /books/{id}", "PATCH /books/{id}", "DELETE /books/{id}"} {
		if !slices.Contains(routes, want) {
			t.Errorf("no route %q in %v", want, routes)
		}
	}
	if !slices.Contains(cfg.Tags.Headers, "Surrogate-Key") {
		t.Errorf("tags.headers = %v; want Surrogate-Key", cfg.Tags.Headers)
	}
}

// TestBehindMoatProxy runs the API without a cache behind a real moat
// gateway configured by moat.yaml: the proxy answers repeated reads, and a
// write through it purges exactly what the write changed (its route rules
// and the API's X-Moat-Invalidate), except that a create or a delete
// purges every list page, which the proxy stores with the total.
func TestBehindMoatProxy(t *testing.T) {
	store := openStore(t, seeded(t, small))
	origin := newApp(t, store, nil)
	cfg, err := config.Load(proxyConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Origin.URL = "127.0.0.1:0", origin.url
	srv, err := server.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	addr, _, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	proxy := &app{t: t, store: store, url: "http://" + addr}
	db := fromDB{t, store}

	const x, y = 95, 150
	ax := db.book(x).Author.ID
	ay := db.book(y).Author.ID
	holding, notHolding := "/books?page=5", "/books?page=4"
	reads := []string{bookPath(x), bookPath(y), authorPath(ax), authorPath(ay), holding, notHolding}
	// hit GETs path through the proxy and wants a stored answer.
	hit := func(t *testing.T, path string) {
		t.Helper()
		before := store.Queries()
		r := proxy.do(http.MethodGet, path, nil)
		if r.status != http.StatusOK || r.header.Get("X-Cache") != "HIT" || store.Queries() != before {
			t.Errorf("GET %s = %d, X-Cache %q, %d statements; want a HIT without a statement",
				path, r.status, r.header.Get("X-Cache"), store.Queries()-before)
		}
		if r.header.Get("Surrogate-Key") != "" {
			t.Errorf("GET %s: the proxy let Surrogate-Key out", path)
		}
	}
	// miss GETs path through the proxy and wants the origin's fresh answer.
	miss := func(t *testing.T, path string, want any) {
		t.Helper()
		r := proxy.do(http.MethodGet, path, nil)
		if r.status != http.StatusOK || r.header.Get("X-Cache") == "HIT" {
			t.Errorf("GET %s = %d, X-Cache %q; want a fresh answer from the origin", path, r.status, r.header.Get("X-Cache"))
		}
		if got, w := string(r.body), mustJSON(t, want)+"\n"; got != w {
			t.Errorf("GET %s = %s; want the database's %s", path, got, w)
		}
	}
	for _, p := range reads {
		proxy.do(http.MethodGet, p, nil)
		hit(t, p)
	}

	t.Run("update_purges_what_it_changed", func(t *testing.T) {
		r := proxy.do(http.MethodPatch, bookPath(x), map[string]any{"title": "Through the Proxy"})
		if r.status != http.StatusOK {
			t.Fatalf("PATCH = %d %s", r.status, r.body)
		}
		if r.header.Get("X-Moat-Invalidate") != "" {
			t.Errorf("the proxy let X-Moat-Invalidate out")
		}
		miss(t, bookPath(x), db.book(x))
		miss(t, authorPath(ax), db.author(ax))
		miss(t, holding, db.list(5, DefaultPageSize))
		for _, p := range []string{bookPath(y), authorPath(ay), notHolding} {
			hit(t, p)
		}
	})

	t.Run("create_purges_every_page", func(t *testing.T) {
		r := proxy.do(http.MethodPost, "/books", BookInput{Title: ptr("Proxied"), AuthorID: ptr(ay), Year: ptr(2020),
			PriceCents: ptr(int64(100)), Genre: ptr("essays"), Pages: ptr(10)})
		if r.status != http.StatusCreated {
			t.Fatalf("POST = %d %s", r.status, r.body)
		}
		miss(t, notHolding, db.list(4, DefaultPageSize)) // the total changed
		miss(t, authorPath(ay), db.author(ay))
		hit(t, bookPath(y))
	})
}
