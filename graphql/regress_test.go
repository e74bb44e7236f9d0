package graphql_test

// Regression tests of a review's findings: each failed before its fix.

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/graphql"
	"github.com/moatproxy/moat/internal/gqltest"
	"github.com/moatproxy/moat/policy"
)

// askAs posts query as user (X-User, trusted by headerIdentity).
func (n *node) askAs(t *testing.T, user, query string) response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.Header.Set("X-User", user)
	}
	return do(t, req)
}

// F1: a type marked PRIVATE (hint on the object type) is only honoured when
// it is the declared return type of a selected field. Reached through an
// inline fragment on an interface or union member, the hint is never
// consulted, and the root field is cached publicly and shared by every user.
func TestPrivateTypeThroughAFragmentIsPrivate(t *testing.T) {
	origin := gqltest.Start(t)
	o := defaultOptions(t)
	o.Hints = map[string]graphql.Hint{"Author": {Private: true}}
	n := start(t, origin, o, func(g *gateway.Options) { g.Identifier = headerIdentity{} })

	// Control: Author as the declared type is private.
	n.askAs(t, "alice", `{ author(id: "a1") { name } }`)
	if got := n.askAs(t, "bob", `{ author(id: "a1") { name } }`); got.header.Get("X-Cache") == "HIT" {
		t.Fatalf("control: bob got alice's private Author entry")
	}

	for _, q := range []string{
		`{ node(id: "a2") { ... on Author { name } } }`,           // interface
		`{ search(text: "Author 3") { ... on Author { name } } }`, // union
	} {
		alice := n.askAs(t, "alice", q)
		if cc := alice.header.Get("Cache-Control"); !strings.HasPrefix(cc, "private") && cc != "no-store" {
			t.Errorf("%s: a response holding a private type has Cache-Control %q", q, cc)
		}
		if bob := n.askAs(t, "bob", q); bob.header.Get("X-Cache") == "HIT" {
			t.Errorf("%s: bob was served alice's entry of a PRIVATE type (Cache-Status %s)", q, bob.header.Get("Cache-Status"))
		}
	}
}

// F2: the mutation tagger prefers the client's own response keys
// "__typename" and "id" over moat's injected moat__typename/moat__key_id.
// A client aliasing another field as "id" makes moat purge "Book:<that
// value>" instead of the entity it changed: everyone keeps reading the old
// book from the cache.
func TestAliasedKeyCannotHideAMutatedEntity(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	q := `{ book(id: "4") { title } }`
	n.post(t, q, nil)
	if got := n.post(t, q, nil); got.header.Get("X-Cache") != "HIT" {
		t.Fatalf("not cached: %s", got.header.Get("Cache-Status"))
	}
	m := n.post(t, `mutation { updateBook(id: "4", title: "Changed") { id: title } }`, nil)
	if !strings.Contains(m.body, "Changed") {
		t.Fatalf("mutation: %s", m.body)
	}
	if got := n.post(t, q, nil); !strings.Contains(got.body, "Changed") {
		t.Errorf("book 4 still served from the cache after its update: %s %s", got.header.Get("X-Cache"), got.body)
	}
}

// F3: Options.Invalidate rules only look at the operation's direct root
// Fields: the same mutation field inside a root inline fragment (or a
// fragment spread) succeeds without its configured purge.
func TestRulesApplyToMutationsInRootFragments(t *testing.T) {
	origin := gqltest.Start(t)
	o := defaultOptions(t)
	o.Invalidate = map[string][]string{"Mutation.createBook": {"Query.books"}}
	n := start(t, origin, o, nil)
	q := `{ books(first: 50) { title } }`
	n.post(t, q, nil)
	if got := n.post(t, q, nil); got.header.Get("X-Cache") != "HIT" {
		t.Fatalf("not cached: %s", got.header.Get("Cache-Status"))
	}
	m := n.post(t, `mutation { ... on Mutation { createBook(title: "Fresh Book", authorId: "a1") { title } } }`, nil)
	if !strings.Contains(m.body, "Fresh Book") {
		t.Fatalf("mutation: %s", m.body)
	}
	if got := n.post(t, q, nil); !strings.Contains(got.body, "Fresh Book") {
		t.Errorf("Query.books not purged by createBook in a root fragment: %s %.80s", got.header.Get("X-Cache"), got.body)
	}
}

// F4a: mutations moat does not take apart are forwarded with no purge at
// all. A JSON batch (Apollo's BatchHttpLink) is one way.
func TestBatchedMutationPurges(t *testing.T) {
	origin := gqltest.Start(t)
	// An origin that accepts batches, as Apollo Server does when enabled:
	// each element is executed by gqltest.
	batching := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
			req, _ := http.NewRequest(r.Method, origin.URL+r.URL.RequestURI(), bytes.NewReader(body))
			req.Header = r.Header.Clone()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				w.WriteHeader(502)
				return
			}
			defer resp.Body.Close()
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			io.Copy(w, resp.Body)
			return
		}
		var items []json.RawMessage
		json.Unmarshal(body, &items)
		var out []json.RawMessage
		for _, it := range items {
			resp, err := http.Post(origin.Endpoint(), "application/json", bytes.NewReader(it))
			if err != nil {
				w.WriteHeader(502)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			out = append(out, b)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(batching.Close)
	n := startAt(t, batching.URL, defaultOptions(t), nil)

	q := `{ book(id: "5") { title } }`
	n.post(t, q, nil)
	if got := n.post(t, q, nil); got.header.Get("X-Cache") != "HIT" {
		t.Fatalf("not cached: %s %s", got.header.Get("Cache-Status"), got.body)
	}
	body := `[{"query":"mutation { updateBook(id: \"5\", title: \"Batched\") { id title } }"}]`
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if got := do(t, req); !strings.Contains(got.body, "Batched") {
		t.Fatalf("batched mutation: %d %s", got.status, got.body)
	}
	if got := n.post(t, q, nil); !strings.Contains(got.body, "Batched") {
		t.Errorf("book 5 still served from the cache after a batched mutation: %s %s", got.header.Get("X-Cache"), got.body)
	}
}

// F4b: a mutation over the 15000-token parse limit is forwarded as a
// "parse error" with no purge, though the origin executes it.
func TestOperationOverTheTokenLimitIsRefused(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	// 2200 fields of 7 tokens: over the limit, cheap for an origin to run.
	m := `mutation { updateBook(id: "6", title: "Padded") { id title` + strings.Repeat(" __typename @include(if: true)", 2200) + ` } }`
	if got := n.post(t, m, nil); got.status != http.StatusRequestEntityTooLarge || !strings.Contains(got.body, `"errors"`) {
		t.Fatalf("a mutation moat cannot read: %d %.200s, want 413 (never forwarded blind)", got.status, got.body)
	}
	if origin.Count() != 0 {
		t.Fatalf("the origin received %d requests", origin.Count())
	}
}

// F5: each root field's fill takes an origin concurrency slot (global or
// per route) before it reaches the batch, and then holds it while it waits
// in batch.roundTrip for its siblings; siblings queued for a slot never
// call the waiting hook. With MaxOriginConcurrency N, any query missing
// more than N root fields stalls for OriginQueueTimeout and then fails
// with 503, while its N fills hold every origin slot of the gateway (all
// other traffic is shed meanwhile) -- for what is ONE origin request.
func TestBatchTakesOneOriginSlot(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), func(g *gateway.Options) {
		g.MaxOriginConcurrency = 2
		g.OriginQueue = -1 // no queue: a request over the limit is refused at once
	})
	got := n.post(t, `{ a: book(id: "1") { title } b: book(id: "2") { title } c: book(id: "3") { title } }`, nil)
	if got.status != 200 || !strings.Contains(got.body, "Book 3") {
		t.Fatalf("3 root fields (one origin request) under an origin limit of 2: %d %s", got.status, got.body)
	}
}

// One client request's single origin request holds one slot, not one per
// missing root field: another client's query still gets the second.
func TestBatchLeavesSlotsToOthers(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), func(g *gateway.Options) {
		g.MaxOriginConcurrency = 2
		g.OriginQueue = -1
	})
	release := origin.Hold()
	first := make(chan response, 1)
	go func() { first <- n.post(t, `{ a: book(id: "7") { title } b: book(id: "8") { title } }`, nil) }()
	<-origin.Arrived() // one origin request in flight
	second := make(chan response, 1)
	go func() { second <- n.post(t, `{ author(id: "a3") { name } }`, nil) }()
	select {
	case <-origin.Arrived(): // the second reached the origin: it had a slot
	case got := <-second:
		t.Fatalf("with one origin request in flight under a limit of 2, another query got %d: %s", got.status, got.body)
	}
	release()
	if got := <-second; got.status != 200 {
		t.Fatalf("second: %d %s", got.status, got.body)
	}
	<-first
}

// F6: normalize (and the shaper after it) expand named fragments at every
// spread, and only fields that are collected count against maxFields:
// fragments holding only skipped fields cost nothing against the bound, so
// k nested fragments, each spreading the previous twice, cost 2^k work.
// The document is ~100 tokens and passes validation.
func TestExponentialFragmentsAreRefused(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	const k = 40 // 2^40 selections if expanded
	var b strings.Builder
	fmt.Fprintf(&b, "query { book(id: \"1\") { title } ...F%d }\n", k)
	b.WriteString("fragment F0 on Query { __typename @skip(if: true) }\n")
	for i := 1; i <= k; i++ {
		fmt.Fprintf(&b, "fragment F%d on Query { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	got := n.post(t, b.String(), nil)
	if got.status != http.StatusBadRequest || origin.Count() != 0 {
		t.Fatalf("a %d-byte query expanding to 2^%d selections: %d %s, origin asked %d times; want 400, never forwarded", b.Len(), k, got.status, got.body, origin.Count())
	}
	m := strings.Replace(b.String(), "query {", "mutation {", 1)
	m = strings.ReplaceAll(m, "on Query", "on Mutation")
	m = strings.Replace(m, `book(id: \"1\") { title }`, `deleteBook(id: \"99\")`, 1)
	if got := n.post(t, m, nil); got.status != http.StatusBadRequest || origin.Count() != 0 {
		t.Fatalf("the same as a mutation: %d %s, origin asked %d times; want 400, never forwarded", got.status, got.body, origin.Count())
	}
}

// F7: mutate forwards the client's Accept-Encoding. A browser's mutation
// ("Accept-Encoding: gzip") comes back compressed (by the origin, or by
// moat's own pass-through compression), decodeOrdered fails on the gzip
// bytes, and nothing is purged.
func TestGzipAcceptingMutationPurges(t *testing.T) {
	origin := gqltest.Start(t)
	gz := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An origin that compresses when asked, as most do.
		body, _ := io.ReadAll(r.Body)
		req, _ := http.NewRequest(r.Method, origin.URL+r.URL.RequestURI(), bytes.NewReader(body))
		req.Header = r.Header.Clone()
		req.Header.Del("Accept-Encoding")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(data)
			zw.Close()
			data = b.Bytes()
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Del("Content-Length")
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(data)
	}))
	t.Cleanup(gz.Close)
	n := startAt(t, gz.URL, defaultOptions(t), nil)
	q := `{ book(id: "12") { title } }`
	n.post(t, q, nil)
	if got := n.post(t, q, nil); got.header.Get("X-Cache") != "HIT" {
		t.Fatalf("not cached: %s %s", got.header.Get("Cache-Status"), got.body)
	}
	body := `{"query":"mutation { updateBook(id: \"12\", title: \"Zipped\") { id title } }"}`
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Host = "api.test"
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("mutation answer: %d %s %d bytes", resp.StatusCode, resp.Header.Get("Content-Encoding"), len(raw))
	if got := n.post(t, q, nil); !strings.Contains(got.body, "Zipped") {
		t.Errorf("book 12 still served from the cache after a gzip-accepting client's mutation: %s %s", got.header.Get("X-Cache"), got.body)
	}
}

// F8: a subrequest the cache bypasses (a public field asked with
// credentials on a route without AllowCredentials, a private field without
// a verified user) never reaches graphql's RoundTrip: the gateway forwards
// moat's synthetic "GET /graphql?query=<canonical>" to the origin as it is,
// one request per root field, outside the batch. Origins that refuse GET
// (or Apollo's CSRF prevention, which refuses a GET without a preflight
// header) then fail every such query.
func TestBypassedFieldsAreBatchedToo(t *testing.T) {
	origin := gqltest.Start(t)
	routes, err := policy.New([]policy.Policy{{Pattern: "/graphql"}}) // AllowCredentials: false
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(origin.URL)
	gw, err := gateway.New(gateway.Options{Origin: u, Policies: routes,
		Extensions: map[string]gateway.NewExtension{"/graphql": graphql.New(defaultOptions(t))}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw)
	t.Cleanup(func() { srv.Close(); gw.Close() })
	body := `{"query":"{ book(id: \"13\") { title } author(id: \"a4\") { name } }"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer x")
	got := do(t, req)
	var methods []string
	for _, r := range origin.Requests() {
		methods = append(methods, r.Method)
	}
	if len(methods) != 1 || methods[0] != http.MethodPost {
		t.Errorf("origin received %v for one client POST (want one batched POST): %s", methods, got.body)
	}
}

func TestQueryThatIsNotUTF8IsRefused(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", strings.NewReader("{ book(id: \"\xb1\") { title } }"))
	req.Header.Set("Content-Type", "application/graphql")
	if got := do(t, req); got.status != http.StatusBadRequest || origin.Count() != 0 {
		t.Fatalf("a query that is not UTF-8: %d %s", got.status, got.body)
	}
}

// tierIdentity trusts X-User as a verified user and X-Tier as its tier,
// for tests only.
type tierIdentity struct{}

func (tierIdentity) Identify(r *http.Request) gateway.Identity {
	u := r.Header.Get("X-User")
	if u == "" {
		return gateway.Identity{Tier: "anonymous"}
	}
	return gateway.Identity{Tier: r.Header.Get("X-Tier"), User: "h-" + u, Credentialed: true, Valid: true}
}

func (tierIdentity) HasCredentials(r *http.Request) bool { return r.Header.Get("X-User") != "" }

// With private_scope: tier, a private field is shared within a tier and
// never across tiers.
func TestPrivateFieldsNeverCrossTiers(t *testing.T) {
	origin := gqltest.Start(t)
	o := defaultOptions(t)
	o.PrivateScope = policy.ScopeTier
	n := start(t, origin, o, func(g *gateway.Options) { g.Identifier = tierIdentity{} })
	ask := func(user, tier string) response {
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", strings.NewReader(`{"query":"{ me { tier } }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-User", user)
		req.Header.Set("X-Tier", tier)
		return do(t, req)
	}
	if got := ask("alice", "gold"); !strings.Contains(got.body, `"tier":"gold"`) {
		t.Fatalf("alice (gold): %s", got.body)
	}
	if got := ask("bob", "free"); !strings.Contains(got.body, `"tier":"free"`) || got.header.Get("X-Cache") == "HIT" {
		t.Fatalf("bob (free) was answered %s %s", got.header.Get("X-Cache"), got.body)
	}
	if got := ask("carol", "gold"); got.header.Get("X-Cache") != "HIT" || !strings.Contains(got.body, `"tier":"gold"`) {
		t.Fatalf("carol (gold) should share gold's entry: %s %s", got.header.Get("X-Cache"), got.body)
	}
}
