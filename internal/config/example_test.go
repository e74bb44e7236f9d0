package config_test

import (
	"errors"
	"fmt"

	"github.com/moatproxy/moat/internal/config"
)

func ExampleParse() {
	c, err := config.Parse([]byte(`
origin: {url: http://127.0.0.1:9000}
routes:
  - match: GET /api/products/{id}
    ttl: 5m
`), "moat.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	r := c.Routes[0]
	fmt.Println(c.Listen, c.Cache.Memory, r.Match, r.TTL, "line", r.Line, "cached", r.Cached())
	// Output: 127.0.0.1:8080 256MiB GET /api/products/{id} 5m line 4 cached true
}

func ExampleError() {
	_, err := config.Parse([]byte(`listen: 127.0.0.1:8080
cache:
  memroy: 1GiB
routes:
  - match: GET /api/products/{id}
    ttl: 5x
`), "moat.yaml")
	fmt.Println(err)

	var ce *config.Error
	if errors.As(err, &ce) {
		for _, fe := range ce.Errors() {
			fmt.Printf("line %d, key %s\n", fe.Line, fe.Key)
		}
	}
	// Output:
	// moat.yaml:3: cache.memroy: unknown key (did you mean "memory"?)
	// moat.yaml:6: routes[0].ttl: invalid duration "5x" (use e.g. 30s, 5m, 1h)
	// line 3, key cache.memroy
	// line 6, key routes[0].ttl
}

func ExampleConfig_ValidateServe() {
	c := config.Default() // a config built in code starts from the defaults
	fmt.Println(c.ValidateServe())
	c.Origin.URL = "http://127.0.0.1:9000"
	fmt.Println(c.ValidateServe())
	// Output:
	// config: origin.url: required to serve: the base URL of the API to cache, e.g. http://127.0.0.1:9000 (or origin.upstream: the name of an upstream)
	// <nil>
}

func ExampleParseByteSize() {
	for _, s := range []string{"256MiB", "100MB", "1.5GiB", "1024"} {
		b, _ := config.ParseByteSize(s)
		fmt.Println(s, int64(b), b)
	}
	// Output:
	// 256MiB 268435456 256MiB
	// 100MB 100000000 100MB
	// 1.5GiB 1610612736 1536MiB
	// 1024 1024 1KiB
}
