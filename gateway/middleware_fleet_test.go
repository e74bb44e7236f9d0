package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// TestProxyAndAppShareOneCache: an application caching with the middleware
// and a moat proxy in front of another instance of it share one Redis: a
// write through the application invalidates what the proxy cached, and a
// write through the proxy what the application cached.
func TestProxyAndAppShareOneCache(t *testing.T) {
	rs := redistest.Standalone(t)
	fleet := func() gateway.Options {
		c, err := redisl2.New(redisl2.Options{Addrs: []string{rs.Addr}, KeyPrefix: "mwfleet:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return gateway.Options{L2: c.Tier(), L2Timeout: 100 * time.Millisecond, Bus: c.Bus(redisl2.BusOptions{}),
			Versions: c.Versions(), Lease: c.Lease()}
	}
	var version atomic.Int64
	api := http.NewServeMux()
	api.HandleFunc("GET /books/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		fmt.Fprintf(w, "book %s v%d", r.PathValue("id"), version.Load())
	})
	api.HandleFunc("PUT /books/{id}", func(w http.ResponseWriter, r *http.Request) {
		version.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})

	// The application, caching its own handlers.
	mw, err := gateway.NewMiddleware(fleet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mw.Close() })
	app := httptest.NewServer(mw.Wrap(api))
	defer app.Close()

	// A proxy node in front of a second, uncached instance of the API.
	origin := httptest.NewServer(api)
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	po := fleet()
	po.Origin, po.PreserveHost = u, true
	proxy, err := gateway.New(po)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	front := httptest.NewServer(proxy)
	defer front.Close()

	do := func(srv *httptest.Server, method, path string) (string, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Host = "api.example" // one name, as clients use it
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.Header.Get("X-Cache")
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// The proxy caches; a write through the application reaches it.
	do(front, "GET", "/books/1")
	if b, x := do(front, "GET", "/books/1"); x != "HIT" || b != "book 1 v0" {
		t.Fatalf("proxy: %q %s", b, x)
	}
	do(app, "PUT", "/books/1")
	eventually("the application's write to reach the proxy", func() bool {
		b, _ := do(front, "GET", "/books/1")
		return b == "book 1 v1"
	})

	// The application caches; a write through the proxy reaches it.
	do(app, "GET", "/books/2")
	if b, x := do(app, "GET", "/books/2"); x != "HIT" || b != "book 2 v1" {
		t.Fatalf("application: %q %s", b, x)
	}
	do(front, "PUT", "/books/2")
	eventually("the proxy's write to reach the application", func() bool {
		b, _ := do(app, "GET", "/books/2")
		return b == "book 2 v2"
	})
}
