package gateway_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/mux"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/policy"
)

// app is a small API as an application writes it: items that may be
// cached, a per-user page marked private, writes that change items, and a
// large export streamed in pieces. Each router under test calls its
// handlers; param reads the path parameter the router extracted.
type app struct {
	calls  atomic.Int64
	writes atomic.Int64
	gate   chan struct{} // the export waits on it after its first piece
}

func (a *app) item(param func(*http.Request) string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Surrogate-Key", "item:"+param(r))
		fmt.Fprintf(w, "item %s v%d", param(r), a.writes.Load())
	}
}

func (a *app) me(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	w.Header().Set("Cache-Control", "private, max-age=60")
	fmt.Fprintf(w, "you are %s", r.Header.Get("X-User"))
}

func (a *app) update(w http.ResponseWriter, r *http.Request) {
	a.writes.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

const exportPiece = 64 << 10

func (a *app) export(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	w.Header().Set("Cache-Control", "public, max-age=60")
	piece := bytes.Repeat([]byte("e"), exportPiece)
	w.Write(piece)
	w.(http.Flusher).Flush()
	if a.gate != nil {
		<-a.gate
	}
	for range 31 {
		w.Write(piece)
	}
}

func middleware(t *testing.T) func(http.Handler) http.Handler {
	t.Helper()
	tbl, err := policy.New([]policy.Policy{{Pattern: "GET /items/{id}", TTL: time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	mw, err := gateway.NewMiddleware(gateway.Options{Policies: tbl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	return mw.Wrap
}

// TestMiddlewareRouters runs the same checks with the standard mux, chi
// and gorilla/mux, the middleware wrapped around each router and used as
// the router's own middleware.
func TestMiddlewareRouters(t *testing.T) {
	routers := map[string]func(a *app) http.Handler{
		"std": func(a *app) http.Handler {
			m := http.NewServeMux()
			m.HandleFunc("GET /items/{id}", a.item(func(r *http.Request) string { return r.PathValue("id") }))
			m.HandleFunc("POST /items/{id}", a.update)
			m.HandleFunc("GET /me", a.me)
			m.HandleFunc("GET /export", a.export)
			return middleware(t)(m)
		},
		"chi": func(a *app) http.Handler {
			r := chi.NewRouter()
			r.Use(middleware(t))
			r.Get("/items/{id}", a.item(func(r *http.Request) string { return chi.URLParam(r, "id") }))
			r.Post("/items/{id}", a.update)
			r.Get("/me", a.me)
			r.Get("/export", a.export)
			return r
		},
		"gorilla": func(a *app) http.Handler {
			r := mux.NewRouter()
			r.Use(middleware(t))
			r.HandleFunc("/items/{id}", a.item(func(r *http.Request) string { return mux.Vars(r)["id"] })).Methods("GET")
			r.HandleFunc("/items/{id}", a.update).Methods("POST")
			r.HandleFunc("/me", a.me).Methods("GET")
			r.HandleFunc("/export", a.export).Methods("GET")
			return r
		},
	}
	for name, build := range routers {
		t.Run(name, func(t *testing.T) {
			a := &app{}
			srv := httptest.NewServer(build(a))
			defer srv.Close()
			do := func(method, path string, hdr ...string) (string, http.Header) {
				t.Helper()
				req, _ := http.NewRequest(method, srv.URL+path, nil)
				for i := 0; i+1 < len(hdr); i += 2 {
					req.Header.Set(hdr[i], hdr[i+1])
				}
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b), resp.Header
			}

			// Cached, with the router's path parameter.
			b1, h1 := do("GET", "/items/7")
			b2, h2 := do("GET", "/items/7")
			if b1 != "item 7 v0" || b2 != b1 || h1.Get("X-Cache") != "MISS" || h2.Get("X-Cache") != "HIT" || a.calls.Load() != 1 {
				t.Fatalf("GET twice: %q %s, %q %s; handler called %d times", b1, h1.Get("X-Cache"), b2, h2.Get("X-Cache"), a.calls.Load())
			}
			if !strings.Contains(h2.Get("Cache-Status"), "hit") {
				t.Errorf("Cache-Status %q", h2.Get("Cache-Status"))
			}

			// A write through the middleware invalidates the item (RFC 9111 §4.4).
			do("POST", "/items/7")
			if b, h := do("GET", "/items/7"); b != "item 7 v1" || h.Get("X-Cache") != "MISS" {
				t.Errorf("GET after POST: %q %s, want the new item, a miss", b, h.Get("X-Cache"))
			}

			// What the handler marks private is never stored or shared.
			calls := a.calls.Load()
			if b, _ := do("GET", "/me", "X-User", "alice"); b != "you are alice" {
				t.Errorf("/me for alice: %q", b)
			}
			if b, h := do("GET", "/me", "X-User", "bob"); b != "you are bob" || h.Get("X-Cache") == "HIT" {
				t.Errorf("/me for bob: %q %s: another user's private answer", b, h.Get("X-Cache"))
			}
			if n := a.calls.Load() - calls; n != 2 {
				t.Errorf("private answers: handler called %d times for 2 requests", n)
			}

			// A large response streams: the client reads the first piece
			// while the handler still waits to write the rest.
			a.gate = make(chan struct{})
			resp, err := srv.Client().Get(srv.URL + "/export")
			if err != nil {
				t.Fatal(err)
			}
			first := make([]byte, exportPiece)
			if _, err := io.ReadFull(resp.Body, first); err != nil {
				t.Fatalf("first piece of the export before the handler finished: %v", err)
			}
			close(a.gate)
			rest, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(first)+len(rest) != 32*exportPiece {
				t.Errorf("export: %d bytes, want %d", len(first)+len(rest), 32*exportPiece)
			}
			a.gate = nil
			if b, h := do("GET", "/export"); len(b) != 32*exportPiece || h.Get("X-Cache") != "HIT" {
				t.Errorf("export again: %d bytes %s, want a hit of %d", len(b), h.Get("X-Cache"), 32*exportPiece)
			}
		})
	}
}

// TestMiddlewareHandlerPanic: a handler that panics before answering gets
// the client a 502, and nothing is stored.
func TestMiddlewareHandlerPanic(t *testing.T) {
	var n atomic.Int64
	h := middleware(t)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			panic("boom")
		}
		w.Header().Set("Cache-Control", "max-age=60")
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/items/1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("a panicking handler: %d, want 502", resp.StatusCode)
	}
	resp, err = srv.Client().Get(srv.URL + "/items/1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "ok" || resp.Header.Get("X-Cache") == "HIT" {
		t.Errorf("after the panic: %q %s", b, resp.Header.Get("X-Cache"))
	}
}
