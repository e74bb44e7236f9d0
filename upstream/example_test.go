package upstream_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/moatproxy/moat/upstream"
)

// A pool of two origins as the Transport of an http.Client: the request names
// a placeholder host, and the pool sends it to its members in turn.
func Example() {
	var members []upstream.Member
	for _, name := range []string{"blue", "green"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s served %s", name, r.URL.Path)
		}))
		defer srv.Close()
		u, _ := url.Parse(srv.URL)
		members = append(members, upstream.Member{URL: u})
	}
	pool, err := upstream.New(upstream.Options{Name: "shop", Members: members, Balance: upstream.RoundRobin})
	if err != nil {
		panic(err)
	}
	pool.Start()
	defer pool.Close()

	client := &http.Client{Transport: pool}
	for _, path := range []string{"/a", "/b", "/c"} {
		resp, err := client.Get("http://shop" + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	fmt.Println("healthy:", pool.Healthy())
	// Output:
	// blue served /a
	// green served /b
	// blue served /c
	// healthy: 2
}
