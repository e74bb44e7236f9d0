package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testSchema = `type Query { book(id: ID!): Book  books: [Book!]! }
type Mutation { updateBook(id: ID!, title: String!): Book }
type Book { id: ID!  title: String!  price(currency: String): Float! }
`

// writeFiles writes name → content into a temp dir and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestGraphQLRouteLoads(t *testing.T) {
	body := `{ book(id: "1") { title } }`
	sum := sha256.Sum256([]byte(body))
	dir := writeFiles(t, map[string]string{
		"schema.graphql": testSchema,
		"manifest.json":  `{"format":"apollo-persisted-query-manifest","version":1,"operations":[{"id":"` + hex.EncodeToString(sum[:]) + `","name":"B","type":"query","body":` + quoteJSON(body) + `}]}`,
		"moat.yaml": `origin: {url: http://127.0.0.1:9000}
routes:
  - match: /graphql
    ttl: 1m
    graphql:
      schema: schema.graphql
      keys: {Book: id}
      hints: {"Query.books": {max_age: 30s}, Book: {scope: private}}
      invalidate: {"Mutation.updateBook": ["Query.books"]}
      safelist: manifest.json
`,
	})
	c, err := Load(filepath.Join(dir, "moat.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	g := c.Routes[0].GraphQL
	if g.LoadedSchema() == nil || g.LoadedSchema().Types["Book"] == nil {
		t.Fatalf("schema not loaded")
	}
	if got := g.LoadedSafelist()[hex.EncodeToString(sum[:])]; got != body {
		t.Fatalf("safelist = %v", g.LoadedSafelist())
	}
	if len(g.Keys["Book"]) != 1 || g.Keys["Book"][0] != "id" {
		t.Fatalf("keys = %v", g.Keys)
	}
}

func quoteJSON(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

func TestGraphQLRouteErrors(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"schema.graphql": testSchema,
		"broken.graphql": "type Query {\n  book(id: ID!): Nope\n}\n",
		"bad.json":       `{"operations":[{"id":"` + strings.Repeat("0", 64) + `","name":"X","body":"{ books { id } }"}]}`,
	})
	tests := []struct {
		name, route, want string
	}{
		{"method_in_match", "match: POST /graphql\n    graphql: {}", "moat.yaml:3: routes[0].match: a GraphQL route answers GET and POST"},
		{"schema_error_names_its_line", "match: /graphql\n    graphql: {schema: broken.graphql}", "broken.graphql:2: Undefined type Nope"},
		{"missing_schema", "match: /graphql\n    graphql: {schema: nope.graphql}", "routes[0].graphql.schema: open"},
		{"key_type_unknown", "match: /graphql\n    graphql: {schema: schema.graphql, keys: {Author: id}}", "routes[0].graphql.keys.Author: Author is not an object type"},
		{"key_field_with_arguments", "match: /graphql\n    graphql: {schema: schema.graphql, keys: {Book: price}}", "Book.price is not a scalar field without arguments"},
		{"hint_unknown", "match: /graphql\n    graphql: {schema: schema.graphql, hints: {Query.nope: {max_age: 1m}}}", `routes[0].graphql.hints.Query.nope: the schema has no type or field "Query.nope"`},
		{"hint_scope", "match: /graphql\n    graphql: {hints: {Book: {scope: secret}}}", "routes[0].graphql.hints.Book.scope: want public or private"},
		{"invalidate_not_a_mutation", "match: /graphql\n    graphql: {invalidate: {Query.books: [x]}}", "name a mutation field"},
		{"invalidate_unknown_mutation", "match: /graphql\n    graphql: {schema: schema.graphql, invalidate: {Mutation.nope: [x]}}", `the schema has no mutation "nope"`},
		{"safelist_id_mismatch", "match: /graphql\n    graphql: {safelist: bad.json}", "id is not the SHA-256 of its body"},
		{"private_scope", "match: /graphql\n    graphql: {private_scope: everyone}", "routes[0].graphql.private_scope: want user or tier"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "origin: {url: http://127.0.0.1:9000}\nroutes:\n  - " + tt.route + "\n"
			_, err := parse([]byte(in), "moat.yaml", parseOptions{baseDir: dir})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v\nwant one containing %q", err, tt.want)
			}
		})
	}
}

// The GraphQL example must load as shipped, schema and all.
func TestGraphQLExampleLoads(t *testing.T) {
	c, err := Load("../../examples/graphql/moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := c.Routes[0].GraphQL
	if g == nil || g.LoadedSchema() == nil || g.LoadedSchema().Types["Book"] == nil {
		t.Fatalf("the example's schema did not load: %+v", g)
	}
}

func TestClientCacheControl(t *testing.T) {
	c, err := Parse([]byte("origin: {url: http://127.0.0.1:9000}\ncache: {client_cache_control: ignore}\nroutes:\n  - match: GET /a\n  - match: GET /b\n    client_cache_control: honor\n"), "moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.IgnoresClientCacheControl(nil) || !c.IgnoresClientCacheControl(&c.Routes[0]) || c.IgnoresClientCacheControl(&c.Routes[1]) {
		t.Fatalf("global ignore, route a inherits, route b honors: got %v %v %v", c.IgnoresClientCacheControl(nil), c.IgnoresClientCacheControl(&c.Routes[0]), c.IgnoresClientCacheControl(&c.Routes[1]))
	}
	_, err = Parse([]byte("origin: {url: http://127.0.0.1:9000}\nroutes:\n  - match: GET /a\n    client_cache_control: sometimes\n"), "moat.yaml")
	if err == nil || !strings.Contains(err.Error(), "moat.yaml:4: routes[0].client_cache_control: want honor or ignore") {
		t.Fatalf("error %v", err)
	}
}

func TestTrustedProxies(t *testing.T) {
	c, err := Parse([]byte("origin: {url: http://127.0.0.1:9000}\ntrusted_proxies: [10.0.0.0/8, 192.0.2.7, \"2001:db8::/32\"]\n"), "moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := c.TrustedProxyPrefixes()
	if len(got) != 3 || got[0].String() != "10.0.0.0/8" || got[1].String() != "192.0.2.7/32" || got[2].String() != "2001:db8::/32" {
		t.Fatalf("prefixes %v", got)
	}
	_, err = Parse([]byte("origin: {url: http://127.0.0.1:9000}\ntrusted_proxies: [10.0.0.0/33]\n"), "moat.yaml")
	if err == nil || !strings.Contains(err.Error(), "moat.yaml:2: trusted_proxies[0]: want a CIDR") {
		t.Fatalf("error %v", err)
	}
}

func TestOriginWithoutSchemeSaysAddHTTP(t *testing.T) {
	for _, u := range []string{"127.0.0.1:9000", "api.internal/v1", "localhost"} {
		_, err := Parse([]byte("origin: {url: \""+u+"\"}\n"), "moat.yaml")
		if err == nil || !strings.Contains(err.Error(), "add http://") {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestTemplateWildcardsMustExist(t *testing.T) {
	for _, tc := range []struct{ route, want string }{
		{"match: GET /users/{id}\n    tags: [\"user:{uid}\"]", `routes[0].tags[0]: {uid} is not a wildcard of "GET /users/{id}" (did you mean {id}?)`},
		{"match: PUT /a/{x}/{y}\n    invalidate: [\"a:{zzz}\"]", `routes[0].invalidate[0]: {zzz} is not a wildcard of "PUT /a/{x}/{y}" (it has {x}, {y})`},
		{"match: GET /all\n    tags: [\"t:{id}\"]", "which has none"},
	} {
		_, err := Parse([]byte("origin: {url: http://127.0.0.1:9000}\nroutes:\n  - "+tc.route+"\n"), "moat.yaml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.route, err, tc.want)
		}
	}
	if _, err := Parse([]byte("origin: {url: http://127.0.0.1:9000}\nroutes:\n  - match: GET /s/{path...}\n    tags: [\"s:{path}\", plain]\n"), "moat.yaml"); err != nil {
		t.Errorf("a {path...} wildcard and a plain tag: %v", err)
	}
}

func TestRouteWarnings(t *testing.T) {
	c, err := Parse([]byte("origin: {url: http://127.0.0.1:9000}\nroutes:\n  - match: GET /off\n    cache: false\n    ttl: 5m\n  - match: GET /creds\n    allow_credentials: true\n"), "moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings() {
		got = append(got, w.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"moat.yaml:4: routes[0].cache: warning: cache: false bypasses the cache", "moat.yaml:7: routes[1].allow_credentials: warning: requests with credentials share"} {
		if !strings.Contains(all, want) {
			t.Errorf("warnings lack %q:\n%s", want, all)
		}
	}
}

func TestKeyHostChecks(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"origin: {url: http://127.0.0.1:9000, host_header: client}\nkeys: {host: origin}\n", "keys.host: origin with origin.host_header: client"},
		{"origin: {url: http://127.0.0.1:9000}\nkeys: {host: somewhere}\n", "keys.host: want client or origin"},
		{"origin: {url: http://127.0.0.1:9000}\nkeys: {host_aliases: {a.example: [b.example], c.example: [B.example]}}\n", `is already an alias of`},
	} {
		if _, err := Parse([]byte(tc.in), "moat.yaml"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.in, err, tc.want)
		}
	}
	if _, err := Parse([]byte("origin: {url: http://127.0.0.1:9000}\nkeys: {host: origin, host_aliases: {a.example: [localhost]}}\n"), "moat.yaml"); err != nil {
		t.Error(err)
	}
}
