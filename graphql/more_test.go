package graphql_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/graphql"
	"github.com/moatproxy/moat/internal/gqltest"
	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// TestFleetOnRedis: two nodes sharing a real Redis share cached root
// fields and persisted queries, and a mutation through one purges the
// other's copies.
func TestFleetOnRedis(t *testing.T) {
	rs := redistest.Standalone(t)
	origin := gqltest.Start(t)
	fleet := func(o *gateway.Options) {
		c, err := redisl2.New(redisl2.Options{Addrs: []string{rs.Addr}, KeyPrefix: "gql:"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		o.L2, o.L2Timeout, o.Bus, o.Versions, o.Lease = c.Tier(), 100*time.Millisecond, c.Bus(redisl2.BusOptions{}), c.Versions(), c.Lease()
	}
	o := defaultOptions(t)
	o.PersistedQueries = true
	a, b := start(t, origin, o, fleet), start(t, origin, o, fleet)

	q := `{ book(id: "9") { title author { name } } }`
	a.post(t, q, nil)
	origin.Reset()
	cachedOnly := func(n *node, q string) response {
		body, _ := json.Marshal(map[string]any{"query": q})
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Cache-Control", "only-if-cached") // a field not in the cache is a 504
		return do(t, req)
	}
	if got := waitFor(t, func() response { return cachedOnly(b, q) }, func(r response) bool { return r.status == 200 }); !strings.Contains(got.body, "Book 9") {
		t.Fatalf("node b: %s", got.body)
	}
	if origin.Count() != 0 {
		t.Fatalf("node b asked the origin %d times for a field node a stored in Redis", origin.Count())
	}

	query := `{ book(id: "10") { title } }`
	sum := sha256.Sum256([]byte(query))
	hash := hex.EncodeToString(sum[:])
	body, _ := json.Marshal(map[string]any{"query": query, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}})
	req, _ := http.NewRequest(http.MethodPost, a.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	do(t, req)
	ext := url.Values{"extensions": {`{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`}}
	got := waitFor(t, func() response {
		req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/graphql?"+ext.Encode(), nil)
		return do(t, req)
	}, func(r response) bool { return strings.Contains(r.body, "Book 10") })
	if got.status != 200 {
		t.Fatalf("persisted query on node b: %d %s", got.status, got.body)
	}

	a.post(t, `mutation { updateBook(id: "9", title: "Nine") { id } }`, nil)
	waitFor(t, func() response { return b.post(t, q, nil) }, func(r response) bool { return strings.Contains(r.body, "Nine") })
}

// waitFor polls get until ok approves its answer, for at most 5s: what
// another node hears through Redis arrives in milliseconds, not at once.
func waitFor(t *testing.T, get func() response, ok func(response) bool) response {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := get()
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("not there after 5s: %d %s %s", r.status, r.header.Get("Cache-Status"), r.body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestConcurrentQueriesAreOneOriginRequest: 50 clients asking overlapping
// queries at once, while the origin holds its answers, make one origin
// request per root field at most, and none waits for ever (two client
// requests each waiting on a field the other fetches must not deadlock).
func TestConcurrentQueriesAreOneOriginRequest(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	release := origin.Hold()
	queries := []string{
		`{ book(id: "11") { title } author(id: "a2") { name } }`,
		`{ author(id: "a2") { name } book(id: "11") { title } }`,
		`{ b: book(id: "11") { title } }`,
	}
	var wg sync.WaitGroup
	answers := make([]response, 50)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = n.post(t, queries[i%len(queries)], nil)
		}()
	}
	<-origin.Arrived()
	release()
	wg.Wait()
	for i, a := range answers {
		if a.status != 200 || !strings.Contains(a.body, "Book 11") {
			t.Fatalf("client %d: %d %s", i, a.status, a.body)
		}
	}
	fields := 0
	for _, r := range origin.Requests() {
		fields += len(r.RootFields)
	}
	if fields > 2 {
		t.Fatalf("the origin was asked for %d root fields (%d requests), want 2 at most", fields, origin.Count())
	}
}

func TestWhatMoatDoesNotTakeApartIsForwarded(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	cases := map[string]string{
		"parse_error":     `{ book(id: "1") { title }`,
		"invalid":         `{ book(id: "1") { nope } }`,
		"subscription":    `subscription { book(id: "1") { title } }`,
		"defer":           `{ book(id: "1") { ... @defer { title } } }`,
		"unknown_op_name": `query A { book(id: "1") { title } } query B { book(id: "2") { title } }`,
	}
	for name, q := range cases {
		t.Run(name, func(t *testing.T) {
			origin.Reset()
			got := n.post(t, q, nil)
			if got.header.Get("X-Cache") != "BYPASS" {
				t.Fatalf("X-Cache %q (%s), want BYPASS", got.header.Get("X-Cache"), got.header.Get("Cache-Status"))
			}
			reqs := origin.Requests()
			if len(reqs) != 1 || reqs[0].Query != q {
				t.Fatalf("the origin did not receive the request as it came: %+v", reqs)
			}
		})
	}
}

func TestConfiguredRulesInvalidateRootFields(t *testing.T) {
	origin := gqltest.Start(t)
	o := defaultOptions(t)
	o.Invalidate = map[string][]string{"Mutation.createBook": {"Query.books", "Author:{authorId}"}}
	n := start(t, origin, o, nil)
	list := `{ books(first: 50) { id } }`
	author := `{ author(id: "a3") { name } }`
	unrelated := `{ author(id: "a4") { name } }`
	for _, q := range []string{list, author, unrelated} {
		n.post(t, q, nil)
	}
	if got := n.post(t, `mutation { createBook(title: "New", authorId: "a3") { id title } }`, nil); !strings.Contains(got.body, `"title":"New"`) {
		t.Fatalf("createBook: %s", got.body)
	}
	if got := n.post(t, list, nil); got.header.Get("X-Cache") != "MISS" || !strings.Contains(got.body, `"21"`) {
		t.Errorf("books after createBook: %s %s", got.header.Get("X-Cache"), got.body)
	}
	if got := n.post(t, author, nil); got.header.Get("X-Cache") != "MISS" {
		t.Errorf("author a3 after createBook by a3: %s", got.header.Get("X-Cache"))
	}
	if got := n.post(t, unrelated, nil); got.header.Get("X-Cache") != "HIT" {
		t.Errorf("author a4 after createBook by a3: %s", got.header.Get("X-Cache"))
	}
}

// TestSubrequestURLIsAQuery: the URL a root field is cached under is a
// GraphQL GET of that field (moat warm replays the hot ones), and asking
// it is a hit on the same entry.
func TestSubrequestURLIsAQuery(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	n.post(t, `{ search(text: "Author 1") { ... on Book { title } ... on Author { name } } }`, nil)
	var uri string
	for _, r := range origin.Requests() {
		uri = "/graphql?" + url.Values{"query": {r.Query}}.Encode()
	}
	req, _ := http.NewRequest(http.MethodGet, n.srv.URL+uri, nil)
	got := do(t, req)
	if got.header.Get("X-Cache") != "HIT" {
		t.Fatalf("GET of the printed query: %s %s", got.header.Get("Cache-Status"), got.body)
	}
}

func TestGetAndApplicationGraphQL(t *testing.T) {
	origin := gqltest.Start(t)
	n := start(t, origin, defaultOptions(t), nil)
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", strings.NewReader(`{ book(id: "12") { title } }`))
	req.Header.Set("Content-Type", "application/graphql")
	if got := do(t, req); got.body != `{"data":{"book":{"title":"Book 12"}}}` {
		t.Fatalf("application/graphql: %s", got.body)
	}
	req, _ = http.NewRequest(http.MethodGet, n.srv.URL+"/graphql?query="+url.QueryEscape(`query{book(id:"12"){title}}`), nil)
	req.Header.Set("Accept", "application/graphql-response+json")
	got := do(t, req)
	if got.header.Get("X-Cache") != "HIT" || !strings.HasPrefix(got.header.Get("Content-Type"), "application/graphql-response+json") {
		t.Fatalf("GET: %s %s %s", got.header.Get("X-Cache"), got.header.Get("Content-Type"), got.body)
	}
	req, _ = http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", strings.NewReader(`{"query": 1}`))
	req.Header.Set("Content-Type", "application/json")
	if got := do(t, req); got.status != http.StatusBadRequest || !strings.Contains(got.body, `"errors"`) {
		t.Fatalf("a malformed request: %d %s", got.status, got.body)
	}
}

type countingObserver struct {
	mu    sync.Mutex
	names map[string]int
}

func (c *countingObserver) Operation(name, kind string, result gateway.Result, fields, cached int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names[name]++
}

// TestOperationNamesAreBounded: an attacker naming every operation anew
// does not grow the metrics past MaxOperationNames names.
func TestOperationNamesAreBounded(t *testing.T) {
	origin := gqltest.Start(t)
	obs := &countingObserver{names: map[string]int{}}
	o := defaultOptions(t)
	o.Observer = obs
	n := start(t, origin, o, nil)
	for i := range graphql.MaxOperationNames + 50 {
		n.post(t, "query Op"+strconv.Itoa(i)+` { book(id: "1") { title } }`, nil)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if len(obs.names) != graphql.MaxOperationNames+1 || obs.names["other"] != 50 {
		t.Fatalf("%d names, %d as other; want %d names and 50 as other", len(obs.names), obs.names["other"], graphql.MaxOperationNames+1)
	}
}

type urlTracker struct {
	mu   sync.Mutex
	urls []string
}

func (u *urlTracker) ObserveN(key, url string, n int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.urls = append(u.urls, url)
}
func (u *urlTracker) Rate(string) float64 { return 0 }

// TestHotFieldsAreTrackedAsReplayableQueries: the hot-key tracker hears
// root fields as GETs a warm-up can replay, and never a persisted query's
// internal entry (its URL is no client request).
func TestHotFieldsAreTrackedAsReplayableQueries(t *testing.T) {
	origin := gqltest.Start(t)
	tr := &urlTracker{}
	o := defaultOptions(t)
	o.PersistedQueries = true
	n := start(t, origin, o, func(g *gateway.Options) { g.Tracker = tr })
	query := `{ book(id: "13") { title } }`
	sum := sha256.Sum256([]byte(query))
	body, _ := json.Marshal(map[string]any{"query": query, "extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}})
	req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	do(t, req)
	tr.mu.Lock()
	urls := append([]string(nil), tr.urls...)
	tr.mu.Unlock()
	if len(urls) != 1 || !strings.HasPrefix(urls[0], "/graphql?query=") {
		t.Fatalf("tracked %q, want the root field's GET alone", urls)
	}
	req, _ = http.NewRequest(http.MethodGet, n.srv.URL+urls[0], nil)
	if got := do(t, req); got.header.Get("X-Cache") != "HIT" || !strings.Contains(got.body, "Book 13") {
		t.Fatalf("replaying %s: %s %s", urls[0], got.header.Get("X-Cache"), got.body)
	}
}
