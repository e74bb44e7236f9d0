package policy_test

import (
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/moatproxy/moat/policy"
)

// Routes are ServeMux patterns with a policy each; the most specific
// pattern wins.
func ExampleTable_Match() {
	routes, err := policy.New([]policy.Policy{
		{Pattern: "GET /books/{id}", TTL: 5 * time.Minute, Tags: []string{"book:{id}"}},
		{Pattern: "GET /books/", TTL: 30 * time.Second},
		{Pattern: "GET /me", Bypass: true},
	})
	if err != nil {
		panic(err)
	}
	for _, path := range []string{"/books/42", "/books/?page=2", "/me", "/other"} {
		if p := routes.Match(httptest.NewRequest("GET", "http://api.example"+path, nil)); p != nil {
			fmt.Printf("%s → %s ttl=%s bypass=%v\n", path, p.Pattern, p.TTL, p.Bypass)
		} else {
			fmt.Printf("%s → no route (RFC 9111 rules alone)\n", path)
		}
	}
	// Output:
	// /books/42 → GET /books/{id} ttl=5m0s bypass=false
	// /books/?page=2 → GET /books/ ttl=30s bypass=false
	// /me → GET /me ttl=0s bypass=true
	// /other → no route (RFC 9111 rules alone)
}
