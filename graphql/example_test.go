package graphql_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	graphqlgo "github.com/graph-gophers/graphql-go"
	"github.com/graph-gophers/graphql-go/relay"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/graphql"
	"github.com/moatproxy/moat/policy"
)

type exampleResolver struct{ asked *int }

func (r *exampleResolver) Greeting(args struct{ Name string }) string {
	*r.asked++
	return "hello " + args.Name
}

// A GraphQL endpoint behind moat: two clients spelling the same query
// differently share one entry, and each gets the answer shaped as it
// asked (its alias).
func ExampleNew() {
	asked := 0
	schema := graphqlgo.MustParseSchema(`type Query { greeting(name: String!): String! }`, &exampleResolver{&asked})
	origin := httptest.NewServer(&relay.Handler{Schema: schema})
	defer origin.Close()

	u, _ := url.Parse(origin.URL)
	routes, _ := policy.New([]policy.Policy{{Pattern: "/graphql"}})
	gw, err := gateway.New(gateway.Options{
		Origin:   u,
		Policies: routes,
		Extensions: map[string]gateway.NewExtension{
			"/graphql": graphql.New(graphql.Options{DefaultMaxAge: time.Minute}),
		},
	})
	if err != nil {
		panic(err)
	}
	defer gw.Close()

	for _, q := range []string{
		`{"query": "{ greeting(name: \"moat\") }"}`,
		`{"query": "query Hi($n: String!) {\n  hi: greeting(name: $n)\n}", "variables": {"n": "moat"}}`,
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "http://api.example/graphql", strings.NewReader(q))
		r.Header.Set("Content-Type", "application/json")
		gw.ServeHTTP(w, r)
		fmt.Println(w.Body.String(), w.Header().Get("X-Cache"))
	}
	fmt.Println("origin resolved greeting", asked, "time(s)")
	// Output:
	// {"data":{"greeting":"hello moat"}} MISS
	// {"data":{"hi":"hello moat"}} HIT
	// origin resolved greeting 1 time(s)
}
