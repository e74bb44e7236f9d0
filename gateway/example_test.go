package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/policy"
)

// An application caches its own handlers: the middleware answers the
// second request from memory, and says so in X-Cache.
func ExampleMiddleware() {
	routes, _ := policy.New([]policy.Policy{{Pattern: "GET /books/{id}", TTL: time.Minute}})
	mw, err := gateway.NewMiddleware(gateway.Options{Policies: routes})
	if err != nil {
		panic(err)
	}
	defer mw.Close()
	app := http.NewServeMux()
	app.HandleFunc("GET /books/{id}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "book %s", r.PathValue("id"))
	})
	h := mw.Wrap(app)
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://api.example/books/1", nil))
		fmt.Println(w.Body.String(), w.Header().Get("X-Cache"))
	}
	// Output:
	// book 1 MISS
	// book 1 HIT
}

// Responses carry tags (the origin's Surrogate-Key, or a route's tags);
// a purge of a tag removes every entry that carries it, on every node
// that shares the Bus.
func ExampleHandler_Purge() {
	mw, err := gateway.NewMiddleware(gateway.Options{})
	if err != nil {
		panic(err)
	}
	defer mw.Close()
	version := 1
	h := mw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Surrogate-Key", "author:7 books")
		fmt.Fprintf(w, "v%d", version)
	}))
	get := func() string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "http://api.example/authors/7/books", nil))
		return w.Body.String() + " " + w.Header().Get("X-Cache")
	}
	fmt.Println(get())
	version = 2
	fmt.Println(get())
	res, _ := mw.Purge(context.Background(), gateway.Purge{Tags: []string{"author:7"}})
	fmt.Println("purged", res.Affected)
	fmt.Println(get())
	// Output:
	// v1 MISS
	// v1 HIT
	// purged 1
	// v2 MISS
}
