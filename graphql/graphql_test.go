package graphql_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/graphql"
	"github.com/moatproxy/moat/internal/gqltest"
	"github.com/moatproxy/moat/policy"
)

// node is one moat in front of a gqltest origin.
type node struct {
	gw  *gateway.Handler
	srv *httptest.Server
}

func schema(t testing.TB) *ast.Schema {
	t.Helper()
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: gqltest.SDL()})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func defaultOptions(t testing.TB) graphql.Options {
	return graphql.Options{
		Schema:        schema(t),
		Keys:          map[string][]string{"Book": {"id"}, "Author": {"id"}},
		DefaultMaxAge: time.Minute,
	}
}

func start(t testing.TB, origin *gqltest.Server, o graphql.Options, mod func(*gateway.Options)) *node {
	t.Helper()
	return startAt(t, origin.URL, o, mod)
}

// startAt is start with an origin URL instead of a gqltest.Server.
func startAt(t testing.TB, originURL string, o graphql.Options, mod func(*gateway.Options)) *node {
	t.Helper()
	routes, err := policy.New([]policy.Policy{{Pattern: "/graphql", AllowCredentials: true}})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(originURL)
	opts := gateway.Options{Origin: u, Policies: routes,
		Extensions: map[string]gateway.NewExtension{"/graphql": graphql.New(o)}}
	if mod != nil {
		mod(&opts)
	}
	gw, err := gateway.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close() })
	return &node{gw: gw, srv: srv}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (n *node) post(t testing.TB, query string, vars map[string]any) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func do(t testing.TB, req *http.Request) response {
	t.Helper()
	req.Host = "api.test" // one name for every node, as behind a load balancer (keys hold the host)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func TestEquivalentQueriesShareAnEntryAndKeepTheirShape(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)

	first := n.post(t, `query A { book(id: "1") { title year author { name } } }`, nil)
	if first.status != 200 || first.header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %s %s", first.status, first.header.Get("X-Cache"), first.body)
	}
	if want := `{"data":{"book":{"title":"Book 1","year":1991,"author":{"name":"Author 1"}}}}`; first.body != want {
		t.Fatalf("first body\n%s\nwant\n%s", first.body, want)
	}
	second := n.post(t, "query B($id: ID!) {\n  b: book(id: $id) { y: year ...T author { n: name } }\n}\nfragment T on Book { t: title }", map[string]any{"id": "1"})
	if second.header.Get("X-Cache") != "HIT" {
		t.Fatalf("equivalent query: %s %s", second.header.Get("Cache-Status"), second.body)
	}
	if want := `{"data":{"b":{"y":1991,"t":"Book 1","author":{"n":"Author 1"}}}}`; second.body != want {
		t.Fatalf("second body\n%s\nwant\n%s", second.body, want)
	}
	if got := origin.Count(); got != 1 {
		t.Fatalf("origin received %d requests, want 1", got)
	}
}

func TestPartialHitAsksOnlyForTheMissingRootFields(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	n.post(t, `{ book(id: "2") { title } }`, nil)
	origin.Reset()

	got := n.post(t, `{ a: author(id: "a1") { name } book(id: "2") { title } }`, nil)
	if got.header.Get("X-Cache") != "PARTIAL" {
		t.Fatalf("X-Cache %q (%s), want PARTIAL", got.header.Get("X-Cache"), got.header.Get("Cache-Status"))
	}
	if want := `{"data":{"a":{"name":"Author 1"},"book":{"title":"Book 2"}}}`; got.body != want {
		t.Fatalf("body\n%s\nwant\n%s", got.body, want)
	}
	reqs := origin.Requests()
	if len(reqs) != 1 {
		t.Fatalf("origin received %d requests, want 1", len(reqs))
	}
	if rf := reqs[0].RootFields; len(rf) != 1 || rf[0] != "author" {
		t.Fatalf("origin was asked for root fields %v, want only [author]: %s", rf, reqs[0].Query)
	}
}

func TestOneRootFieldsErrorDoesNotPoisonTheOthers(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	q := `{ broken(id: "1") { title } book(id: "3") { title } }`
	first := n.post(t, q, nil)
	var body struct {
		Data   map[string]any   `json:"data"`
		Errors []map[string]any `json:"errors"`
	}
	if err := json.Unmarshal([]byte(first.body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Data["broken"] != nil || len(body.Errors) != 1 {
		t.Fatalf("first answer %s: want broken null and one error", first.body)
	}
	if p, _ := body.Errors[0]["path"].([]any); len(p) != 1 || p[0] != "broken" {
		t.Fatalf("error path %v, want [broken]", body.Errors[0]["path"])
	}
	origin.Reset()
	second := n.post(t, q, nil)
	if second.header.Get("X-Cache") != "PARTIAL" {
		t.Fatalf("second: X-Cache %q, want PARTIAL (book cached, broken asked again)", second.header.Get("X-Cache"))
	}
	if rf := origin.Requests()[0].RootFields; len(rf) != 1 || rf[0] != "broken" {
		t.Fatalf("origin asked for %v, want [broken]", rf)
	}
	if second.body != first.body {
		t.Fatalf("second answer\n%s\ndiffers from the first\n%s", second.body, first.body)
	}
}

func TestMutationInvalidatesItsEntitiesOnEveryNodeAndNothingElse(t *testing.T) {
	origin := gqltest.Start(t)
	bus := new(gateway.LocalBus)
	withBus := func(o *gateway.Options) { o.Bus = bus }
	nodes := []*node{start(t, origin, defaultOptions(t), withBus), start(t, origin, defaultOptions(t), withBus)}
	holding := `{ book(id: "1") { title } }`
	listHolding := `{ books(first: 3) { id title } }` // books 1..3
	other := `{ book(id: "5") { title } }`
	for _, n := range nodes {
		for _, q := range []string{holding, listHolding, other} {
			n.post(t, q, nil)
			if got := n.post(t, q, nil); got.header.Get("X-Cache") != "HIT" {
				t.Fatalf("%s not cached: %s", q, got.header.Get("Cache-Status"))
			}
		}
	}
	m := nodes[0].post(t, `mutation { updateBook(id: "1", title: "Renamed") { title } }`, nil)
	if want := `{"data":{"updateBook":{"title":"Renamed"}}}`; m.body != want {
		t.Fatalf("mutation answer\n%s\nwant\n%s (moat's added fields must not show)", m.body, want)
	}
	for i, n := range nodes {
		if got := n.post(t, holding, nil); got.header.Get("X-Cache") != "MISS" || !strings.Contains(got.body, "Renamed") {
			t.Errorf("node %d: book 1 after the mutation: %s %s", i, got.header.Get("X-Cache"), got.body)
		}
		if got := n.post(t, listHolding, nil); got.header.Get("X-Cache") != "MISS" || !strings.Contains(got.body, "Renamed") {
			t.Errorf("node %d: the list holding book 1 after the mutation: %s %s", i, got.header.Get("X-Cache"), got.body)
		}
		if got := n.post(t, other, nil); got.header.Get("X-Cache") != "HIT" {
			t.Errorf("node %d: book 5 was purged by a mutation of book 1: %s", i, got.header.Get("Cache-Status"))
		}
	}
}

func TestPersistedQueryRoundTrip(t *testing.T) {
	origin := gqltest.Start(t)
	o := defaultOptions(t)
	o.PersistedQueries = true
	n := start(t, origin, o, nil)
	query := `query Book($id: ID!) { book(id: $id) { title } }`
	sum := sha256.Sum256([]byte(query))
	hash := hex.EncodeToString(sum[:])
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`
	get := func() response {
		v := url.Values{"extensions": {ext}, "variables": {`{"id":"4"}`}}
		req, _ := http.NewRequest(http.MethodGet, n.srv.URL+"/graphql?"+v.Encode(), nil)
		return do(t, req)
	}
	if got := get(); !strings.Contains(got.body, "PERSISTED_QUERY_NOT_FOUND") {
		t.Fatalf("unknown hash: %d %s", got.status, got.body)
	}
	body, _ := json.Marshal(map[string]any{"query": query, "variables": map[string]any{"id": "4"},
		"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}})
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if got := do(t, req); got.body != `{"data":{"book":{"title":"Book 4"}}}` {
		t.Fatalf("registration: %s", got.body)
	}
	got := get()
	if got.body != `{"data":{"book":{"title":"Book 4"}}}` || got.header.Get("X-Cache") != "HIT" {
		t.Fatalf("GET by hash: %s %s", got.header.Get("X-Cache"), got.body)
	}
	if cc := got.header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
		t.Fatalf("GET by hash: Cache-Control %q, want public for a CDN", cc)
	}
	bad, _ := json.Marshal(map[string]any{"query": "{ book(id: \"1\") { title } }",
		"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}})
	req, _ = http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", bytes.NewReader(bad))
	req.Header.Set("Content-Type", "application/json")
	if got := do(t, req); got.status != http.StatusBadRequest {
		t.Fatalf("a query that does not match its hash: %d %s", got.status, got.body)
	}
}

func TestSafelistRefusesUnregisteredOperations(t *testing.T) {
	origin := gqltest.Start(t)
	o := defaultOptions(t)
	allowed := `{ book(id: "1") { title } }`
	sum := sha256.Sum256([]byte(allowed))
	o.Safelist = map[string]string{hex.EncodeToString(sum[:]): allowed}
	n := start(t, origin, o, nil)
	if got := n.post(t, allowed, nil); got.status != 200 || !strings.Contains(got.body, "Book 1") {
		t.Fatalf("safelisted operation: %d %s", got.status, got.body)
	}
	got := n.post(t, `{ book(id: "2") { title } }`, nil)
	if got.status != http.StatusBadRequest || !strings.Contains(got.body, `"errors"`) {
		t.Fatalf("unlisted operation: %d %s, want 400 with a GraphQL error", got.status, got.body)
	}
	if origin.Count() != 1 {
		t.Fatalf("origin received %d requests, want 1 (the unlisted one never reaches it)", origin.Count())
	}
}

// headerIdentity trusts X-User as a verified user, for tests only.
type headerIdentity struct{}

func (headerIdentity) Identify(r *http.Request) gateway.Identity {
	u := r.Header.Get("X-User")
	if u == "" {
		return gateway.Identity{Tier: "anonymous"}
	}
	return gateway.Identity{Tier: "free", User: "h-" + u, Credentialed: true, Valid: true}
}

func (headerIdentity) HasCredentials(r *http.Request) bool { return r.Header.Get("X-User") != "" }

func TestPrivateFieldsNeverCrossUsers(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), func(o *gateway.Options) { o.Identifier = headerIdentity{} })
	ask := func(user string) response {
		body := `{"query":"{ me { name } book(id: \"7\") { title } }"}`
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.Header.Set("X-User", user)
		}
		return do(t, req)
	}
	if got := ask("alice"); !strings.Contains(got.body, `"me":{"name":"alice"}`) {
		t.Fatalf("alice: %s", got.body)
	}
	bob := ask("bob")
	if !strings.Contains(bob.body, `"me":{"name":"bob"}`) {
		t.Fatalf("bob was answered %s", bob.body)
	}
	if bob.header.Get("X-Cache") != "PARTIAL" {
		t.Fatalf("bob: X-Cache %q, want PARTIAL (the book shared, his own me)", bob.header.Get("X-Cache"))
	}
	if cc := bob.header.Get("Cache-Control"); !strings.HasPrefix(cc, "private") {
		t.Fatalf("a response with a private field has Cache-Control %q", cc)
	}
	if got := ask("alice"); got.header.Get("X-Cache") != "HIT" || !strings.Contains(got.body, `"me":{"name":"alice"}`) {
		t.Fatalf("alice again: %s %s", got.header.Get("X-Cache"), got.body)
	}
	if got := ask(""); strings.Contains(got.body, "alice") || strings.Contains(got.body, "bob") {
		t.Fatalf("anonymous was answered another user's field: %s", got.body)
	}
}

// The example's schema is the test origin's, so that what the docs show
// is what the tests run.
func TestExampleSchemaIsTheTestOrigins(t *testing.T) {
	b, err := os.ReadFile("../examples/graphql/schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != gqltest.SDL() {
		t.Fatal("examples/graphql/schema.graphql differs from internal/gqltest/schema.graphql: copy it over")
	}
}
