package warm_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/moatproxy/moat/internal/warm"
)

func ExampleFromURLFile() {
	paths, err := warm.FromURLFile(strings.NewReader(`
# products to keep hot
https://api.example.com/products?page=1
/products/42
`))
	fmt.Println(paths, err)
	// Output: [/products?page=1 /products/42] <nil>
}

func ExampleRun() {
	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Status", "moat; fwd=miss; stored")
		w.Header().Set("X-Cache", "MISS")
	}))
	defer gateway.Close()

	s, err := warm.Run(context.Background(), warm.Options{
		BaseURL: gateway.URL,
		Rate:    100,
		Header:  http.Header{"Host": {"api.example.com"}}, // the Host clients send: it is part of the key
	}, []string{"/products/1", "/products/2"})
	if err != nil {
		fmt.Println(err)
		return
	}
	s.Duration, s.Rate = 0, 0 // not reproducible
	s.Print(os.Stdout)
	// Output:
	// warmed 2 of 2 URLs in 0s (0/s): 2 ok, 0 failed
	// cache: 2 stored, 0 already cached, 0 neither
	// status: 200 ×2
}
