package gqltest

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// arrivalTimeout bounds a wait on Arrived: a guard against hanging, never a
// synchronisation.
const arrivalTimeout = 10 * time.Second

// response is a GraphQL response as the tests read it.
type response struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message string `json:"message"`
		Path    []any  `json:"path"`
	} `json:"errors"`
}

// send does req and returns its status, header and body.
func send(t *testing.T, req *http.Request) (int, http.Header, []byte) {
	t.Helper()
	res, err := http.DefaultClient.Do(req.WithContext(t.Context()))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return res.StatusCode, res.Header, body
}

// newPost builds a POST of body with content type ctype.
func newPost(t *testing.T, endpoint, ctype, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	return req
}

// jsonBody encodes a GraphQL request object.
func jsonBody(t *testing.T, query string, variables map[string]any) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"query": query, "variables": variables})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// roundTrip does req, checks status 200 and application/json, and decodes
// the body.
func roundTrip(t *testing.T, req *http.Request) response {
	t.Helper()
	status, header, body := send(t, req)
	if status != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", status, body)
	}
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return r
}

// query POSTs query as application/json and returns the response.
func query(t *testing.T, s *Server, q string, variables map[string]any) response {
	t.Helper()
	return roundTrip(t, newPost(t, s.Endpoint(), "application/json", jsonBody(t, q, variables)))
}

// mustData fails t on GraphQL errors and returns data.
func mustData(t *testing.T, r response) json.RawMessage {
	t.Helper()
	if len(r.Errors) != 0 {
		t.Fatalf("errors = %+v, want none", r.Errors)
	}
	return r.Data
}

// assertJSON compares got with the JSON text want, ignoring formatting.
func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("got %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("data = %s\nwant   %s", got, want)
	}
}

func TestSDLKeepsCacheControl(t *testing.T) {
	for _, want := range []string{
		"directive @cacheControl(",
		"me: User @cacheControl(maxAge: 60, scope: PRIVATE)",
		"type Book implements Node @cacheControl(maxAge: 300)",
	} {
		if !strings.Contains(SDL(), want) {
			t.Errorf("SDL() lacks %q", want)
		}
	}
}

func TestPostJSON(t *testing.T) {
	s := Start(t)
	tests := []struct {
		name      string
		query     string
		variables map[string]any
		want      string
	}{
		{
			name:      "alias_and_variables",
			query:     `query Q($id: ID!) { first: book(id: $id) { id title year genre author { id name } price } }`,
			variables: map[string]any{"id": "3"},
			want:      `{"first":{"id":"3","title":"Book 3","year":1993,"genre":"HISTORY","author":{"id":"a3","name":"Author 3"},"price":4.5}}`,
		},
		{
			name:  "books_by_genre",
			query: `{ books(first: 3, genre: SCIENCE) { id genre } }`,
			want:  `{"books":[{"id":"2","genre":"SCIENCE"},{"id":"5","genre":"SCIENCE"},{"id":"8","genre":"SCIENCE"}]}`,
		},
		{
			name:  "books_first_defaults_to_10",
			query: `{ books { id } }`,
			want:  `{"books":[{"id":"1"},{"id":"2"},{"id":"3"},{"id":"4"},{"id":"5"},{"id":"6"},{"id":"7"},{"id":"8"},{"id":"9"},{"id":"10"}]}`,
		},
		{
			name:      "search_books_then_authors",
			query:     `query($t: String!) { search(text: $t) { __typename ... on Book { title } ... on Author { name } } }`,
			variables: map[string]any{"t": "2"},
			want:      `{"search":[{"__typename":"Book","title":"Book 2"},{"__typename":"Book","title":"Book 12"},{"__typename":"Book","title":"Book 20"},{"__typename":"Author","name":"Author 2"}]}`,
		},
		{
			name:  "search_ignores_case",
			query: `{ search(text: "AUTHOR 4") { ... on Author { id } } }`,
			want:  `{"search":[{"id":"a4"}]}`,
		},
		{
			name:  "node_tells_books_from_authors",
			query: `{ a: node(id: "a2") { id __typename } b: node(id: "7") { id ... on Book { title } } none: node(id: "x") { id } }`,
			want:  `{"a":{"id":"a2","__typename":"Author"},"b":{"id":"7","title":"Book 7"},"none":null}`,
		},
		{
			name:  "missing_book_is_null",
			query: `{ book(id: "99") { id } author(id: "1") { id } }`,
			want:  `{"book":null,"author":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertJSON(t, mustData(t, query(t, s, tt.query, tt.variables)), tt.want)
		})
	}
}

func TestPriceInUSD(t *testing.T) {
	s := Start(t)
	var data struct{ Book struct{ EUR, USD float64 } }
	raw := mustData(t, query(t, s, `{ book(id: "4") { EUR: price USD: price(currency: "USD") } }`, nil))
	if err := json.Unmarshal(raw, &data); err != nil {
		t.Fatal(err)
	}
	if got, want := data.Book.EUR, 6.0; got != want {
		t.Errorf("EUR price = %v, want %v", got, want)
	}
	if got, want := data.Book.USD, 6.6; math.Abs(got-want) > 1e-9 {
		t.Errorf("USD price = %v, want %v", got, want)
	}
	r := query(t, s, `{ book(id: "4") { price(currency: "JPY") } }`, nil)
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "JPY") {
		t.Errorf("JPY errors = %+v, want one naming JPY", r.Errors)
	}
}

func TestPostGraphQLBody(t *testing.T) {
	s := Start(t)
	r := roundTrip(t, newPost(t, s.Endpoint(), "application/graphql", `{ author(id: "a1") { name books { id } } }`))
	assertJSON(t, mustData(t, r), `{"author":{"name":"Author 1","books":[{"id":"1"},{"id":"6"},{"id":"11"},{"id":"16"}]}}`)
}

func TestGetQuery(t *testing.T) {
	s := Start(t)
	v := url.Values{
		"query":         {`query A($id: ID!) { book(id: $id) { title } } query B { clock }`},
		"operationName": {"A"},
		"variables":     {`{"id":"5"}`},
	}
	req, err := http.NewRequest(http.MethodGet, s.Endpoint()+"?"+v.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	assertJSON(t, mustData(t, roundTrip(t, req)), `{"book":{"title":"Book 5"}}`)
	got := s.Requests()[0]
	if got.Method != http.MethodGet || got.OperationName != "A" || !slices.Equal(got.RootFields, []string{"book"}) {
		t.Errorf("recorded %+v, want GET of operation A with root fields [book]", got)
	}
}

func TestGetMutationRefused(t *testing.T) {
	s := Start(t)
	v := url.Values{"query": {`mutation { updateBook(id: "1", title: "Changed") { title } }`}}
	req, err := http.NewRequest(http.MethodGet, s.Endpoint()+"?"+v.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	status, header, body := send(t, req)
	if status != http.StatusMethodNotAllowed {
		t.Fatalf("status = %d, want 405; body %s", status, body)
	}
	if got := header.Get("Allow"); got != http.MethodPost {
		t.Errorf("Allow = %q, want POST", got)
	}
	var r response
	if err := json.Unmarshal(body, &r); err != nil || len(r.Errors) != 1 || r.Errors[0].Message == "" {
		t.Errorf("body = %s (%v), want a GraphQL error", body, err)
	}
	assertJSON(t, mustData(t, query(t, s, `{ book(id: "1") { title } }`, nil)), `{"book":{"title":"Book 1"}}`)
}

func TestMutationsChangeLaterReads(t *testing.T) {
	s := Start(t)
	steps := []struct {
		name      string
		mutation  string
		want      string
		read      string
		wantAfter string
	}{
		{
			name:      "updateBook",
			mutation:  `mutation { updateBook(id: "2", title: "Retitled") { id title } }`,
			want:      `{"updateBook":{"id":"2","title":"Retitled"}}`,
			read:      `{ book(id: "2") { title } }`,
			wantAfter: `{"book":{"title":"Retitled"}}`,
		},
		{
			name:      "updateBook_missing",
			mutation:  `mutation { updateBook(id: "99", title: "X") { id } }`,
			want:      `{"updateBook":null}`,
			read:      `{ book(id: "99") { id } }`,
			wantAfter: `{"book":null}`,
		},
		{
			name:      "createBook",
			mutation:  `mutation { createBook(title: "New", authorId: "a2") { id title year genre author { id } } }`,
			want:      `{"createBook":{"id":"21","title":"New","year":2011,"genre":"FICTION","author":{"id":"a2"}}}`,
			read:      `{ author(id: "a2") { books { id } } }`,
			wantAfter: `{"author":{"books":[{"id":"2"},{"id":"7"},{"id":"12"},{"id":"17"},{"id":"21"}]}}`,
		},
		{
			name:      "deleteBook",
			mutation:  `mutation { deleteBook(id: "7") }`,
			want:      `{"deleteBook":"7"}`,
			read:      `{ book(id: "7") { id } books(first: 3, genre: SCIENCE) { id } }`,
			wantAfter: `{"book":null,"books":[{"id":"2"},{"id":"5"},{"id":"8"}]}`,
		},
		{
			name:      "deleteBook_missing",
			mutation:  `mutation { deleteBook(id: "7") }`,
			want:      `{"deleteBook":null}`,
			read:      `{ books(first: 3, genre: FICTION) { id } }`,
			wantAfter: `{"books":[{"id":"1"},{"id":"4"},{"id":"10"}]}`,
		},
		{
			name:      "renameAuthor",
			mutation:  `mutation { renameAuthor(id: "a3", name: "Renamed") { id name } }`,
			want:      `{"renameAuthor":{"id":"a3","name":"Renamed"}}`,
			read:      `{ book(id: "3") { author { name } } search(text: "renamed") { ... on Author { id } } }`,
			wantAfter: `{"book":{"author":{"name":"Renamed"}},"search":[{"id":"a3"}]}`,
		},
	}
	// The steps build on each other: they run in order on one server.
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			assertJSON(t, mustData(t, query(t, s, step.mutation, nil)), step.want)
			assertJSON(t, mustData(t, query(t, s, step.read, nil)), step.wantAfter)
		})
	}
	t.Run("createBook_unknown_author", func(t *testing.T) {
		r := query(t, s, `mutation { createBook(title: "X", authorId: "a9") { id } }`, nil)
		if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "a9") {
			t.Errorf("errors = %+v, want one naming a9", r.Errors)
		}
	})
}

func TestBrokenIsolatesItsError(t *testing.T) {
	s := Start(t)
	r := query(t, s, `{ broken(id: "1") { id } book(id: "1") { title } }`, nil)
	assertJSON(t, r.Data, `{"broken":null,"book":{"title":"Book 1"}}`)
	if len(r.Errors) != 1 {
		t.Fatalf("errors = %+v, want one", r.Errors)
	}
	if got, want := r.Errors[0].Message, "broken on purpose"; got != want {
		t.Errorf("message = %q, want %q", got, want)
	}
	if got, want := r.Errors[0].Path, []any{"broken"}; !reflect.DeepEqual(got, want) {
		t.Errorf("path = %v, want %v", got, want)
	}
}

func TestMe(t *testing.T) {
	s := Start(t)
	tests := []struct {
		name   string
		header map[string]string
		want   string
	}{
		{name: "anonymous", want: `{"me":null}`},
		{name: "user_default_tier", header: map[string]string{"X-User": "alice"}, want: `{"me":{"id":"u-alice","name":"alice","tier":"free"}}`},
		{name: "user_with_tier", header: map[string]string{"X-User": "bob", "X-Tier": "gold"}, want: `{"me":{"id":"u-bob","name":"bob","tier":"gold"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := newPost(t, s.Endpoint(), "application/json", jsonBody(t, `{ me { id name tier } }`, nil))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			assertJSON(t, mustData(t, roundTrip(t, req)), tt.want)
		})
	}
}

func TestClockIncreases(t *testing.T) {
	s := Start(t)
	var first, second struct{ A, B int }
	if err := json.Unmarshal(mustData(t, query(t, s, `{ A: clock B: clock }`, nil)), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustData(t, query(t, s, `{ A: clock B: clock }`, nil)), &second); err != nil {
		t.Fatal(err)
	}
	got := []int{first.A, first.B, second.A, second.B}
	slices.Sort(got[:2]) // the two fields of one query may resolve in either order
	slices.Sort(got[2:])
	if want := []int{1, 2, 3, 4}; !slices.Equal(got, want) {
		t.Errorf("clock values = %v, want %v", got, want)
	}
}

func TestFail(t *testing.T) {
	s := Start(t)
	body := jsonBody(t, `{ book(id: "1") { id } }`, nil)
	s.Fail(http.StatusServiceUnavailable)
	status, header, got := send(t, newPost(t, s.Endpoint(), "application/json", body))
	if status != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want 503", status)
	}
	if ct := header.Get("Content-Type"); strings.Contains(ct, "json") {
		t.Errorf("Content-Type = %q, want a non-GraphQL body", ct)
	}
	if json.Valid(got) {
		t.Errorf("body %q is JSON, want a non-GraphQL body", got)
	}
	s.Fail(0)
	assertJSON(t, mustData(t, roundTrip(t, newPost(t, s.Endpoint(), "application/json", body))), `{"book":{"id":"1"}}`)
	if got, want := s.Count(), 2; got != want {
		t.Errorf("Count() = %d, want %d (failed requests are recorded too)", got, want)
	}
}

// waitArrival waits for one value on s.Arrived.
func waitArrival(t *testing.T, s *Server) {
	t.Helper()
	select {
	case <-s.Arrived():
	case <-time.After(arrivalTimeout):
		t.Fatal("no request arrived")
	}
}

func TestHold(t *testing.T) {
	t.Run("blocks_until_release", func(t *testing.T) {
		s := Start(t)
		release := s.Hold()
		type result struct {
			status int
			body   []byte
		}
		done := make(chan result, 1)
		req := newPost(t, s.Endpoint(), "application/json", jsonBody(t, `{ book(id: "1") { id } }`, nil))
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- result{status: -1, body: []byte(err.Error())}
				return
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			done <- result{res.StatusCode, body}
		}()
		waitArrival(t, s)
		if got := s.Count(); got != 1 {
			t.Errorf("Count() after arrival = %d, want 1", got)
		}
		select {
		case r := <-done:
			t.Fatalf("held request answered before release: %d %s", r.status, r.body)
		default:
		}
		release()
		release() // idempotent
		r := <-done
		if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`"book"`)) {
			t.Errorf("after release: %d %s, want 200 with the book", r.status, r.body)
		}
		// Released: the next request is not held.
		assertJSON(t, mustData(t, query(t, s, `{ book(id: "2") { id } }`, nil)), `{"book":{"id":"2"}}`)
	})
	t.Run("unreleased_hold_ends_at_cleanup", func(t *testing.T) {
		statuses := make(chan int, 1)
		t.Run("server", func(t *testing.T) {
			s := Start(t)
			s.Hold()
			req := newPost(t, s.Endpoint(), "application/json", jsonBody(t, `{ clock }`, nil))
			go func() {
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					statuses <- -1
					return
				}
				res.Body.Close()
				statuses <- res.StatusCode
			}()
			waitArrival(t, s)
		}) // cleanup closes the server with the request still held
		select {
		case got := <-statuses:
			if got != http.StatusServiceUnavailable {
				t.Errorf("held request at close: status %d, want 503", got)
			}
		case <-time.After(arrivalTimeout):
			t.Fatal("held request not answered at close")
		}
	})
}

func TestRequestsRecorded(t *testing.T) {
	s := Start(t)
	q := `query Page($id: ID!) { b: book(id: $id) { title } ...Rest ... on Query { clock } }
fragment Rest on Query { a: author(id: "a1") { name } }`
	body, err := json.Marshal(map[string]any{
		"query":         q,
		"operationName": "Page",
		"variables":     map[string]any{"id": "9"},
		"extensions":    map[string]any{"persistedQuery": map[string]any{"version": 1.0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := newPost(t, s.Endpoint(), "application/json", string(body))
	req.Header.Set("X-Trace", "t1")
	mustData(t, roundTrip(t, req))

	reqs := s.Requests()
	if len(reqs) != 1 || s.Count() != 1 {
		t.Fatalf("Requests() = %d, Count() = %d, want 1", len(reqs), s.Count())
	}
	got := reqs[0]
	if got.Method != http.MethodPost || got.Query != q || got.OperationName != "Page" {
		t.Errorf("recorded %s %q op %q, want POST of the query, op Page", got.Method, got.Query, got.OperationName)
	}
	if want := map[string]any{"id": "9"}; !reflect.DeepEqual(got.Variables, want) {
		t.Errorf("Variables = %v, want %v", got.Variables, want)
	}
	if want := map[string]any{"persistedQuery": map[string]any{"version": 1.0}}; !reflect.DeepEqual(got.Extensions, want) {
		t.Errorf("Extensions = %v, want %v", got.Extensions, want)
	}
	if want := []string{"book", "author", "clock"}; !slices.Equal(got.RootFields, want) {
		t.Errorf("RootFields = %q, want %q", got.RootFields, want)
	}
	if got := got.Header.Get("X-Trace"); got != "t1" {
		t.Errorf("Header X-Trace = %q, want t1", got)
	}

	s.Reset()
	if got := s.Count(); got != 0 {
		t.Errorf("Count() after Reset = %d, want 0", got)
	}
	assertJSON(t, mustData(t, query(t, s, `{ book(id: "9") { title } }`, nil)), `{"book":{"title":"Book 9"}}`)
	if got := s.Requests(); len(got) != 1 || !slices.Equal(got[0].RootFields, []string{"book"}) {
		t.Errorf("Requests() after Reset and one query = %+v", got)
	}
}

func TestParseOperation(t *testing.T) {
	tests := []struct {
		name, query, operationName string
		wantKind                   string
		wantFields                 []string
		wantOK                     bool
	}{
		{name: "shorthand_with_aliases", query: `{ x: book(id: 1) { id } y: book(id: 2) { id } me { id } }`, wantKind: "query", wantFields: []string{"book", "book", "me"}, wantOK: true},
		{name: "named_operation_chosen", query: `query A { clock } mutation B { deleteBook(id: 1) }`, operationName: "B", wantKind: "mutation", wantFields: []string{"deleteBook"}, wantOK: true},
		{name: "ambiguous_without_name", query: `query A { clock } query B { me { id } }`, wantOK: false},
		{name: "unknown_name", query: `query A { clock }`, operationName: "Z", wantOK: false},
		{name: "fragments_expanded", query: `{ ...F ... @include(if: true) { clock } } fragment F on Query { book(id: 1) { id } }`, wantKind: "query", wantFields: []string{"book", "clock"}, wantOK: true},
		{name: "fragment_cycle_ends", query: `{ ...F } fragment F on Query { clock ...F }`, wantKind: "query", wantFields: []string{"clock"}, wantOK: true},
		{name: "parse_error", query: `{ book(id: `, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, ok := parseOperation(tt.query, tt.operationName)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if string(op.kind) != tt.wantKind || !slices.Equal(op.rootFields, tt.wantFields) {
				t.Errorf("got %s %q, want %s %q", op.kind, op.rootFields, tt.wantKind, tt.wantFields)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	s := Start(t)
	get := func(rawQuery string) *http.Request {
		req, err := http.NewRequest(http.MethodGet, s.Endpoint()+"?"+rawQuery, nil)
		if err != nil {
			t.Fatal(err)
		}
		return req
	}
	put, err := http.NewRequest(http.MethodPut, s.Endpoint(), strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
	}{
		{name: "batch_array", req: newPost(t, s.Endpoint(), "application/json", ` [{"query":"{ clock }"}]`), wantStatus: http.StatusBadRequest},
		{name: "malformed_json", req: newPost(t, s.Endpoint(), "application/json", `{"query":`), wantStatus: http.StatusBadRequest},
		{name: "missing_query", req: newPost(t, s.Endpoint(), "application/json", `{}`), wantStatus: http.StatusBadRequest},
		{name: "unsupported_content_type", req: newPost(t, s.Endpoint(), "text/plain", `{ clock }`), wantStatus: http.StatusUnsupportedMediaType},
		{name: "get_variables_not_json", req: get(url.Values{"query": {"{ clock }"}, "variables": {"{"}}.Encode()), wantStatus: http.StatusBadRequest},
		{name: "method_put", req: put, wantStatus: http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, header, body := send(t, tt.req)
			if status != tt.wantStatus {
				t.Errorf("status = %d, want %d; body %s", status, tt.wantStatus, body)
			}
			var r response
			if err := json.Unmarshal(body, &r); err != nil || len(r.Errors) != 1 || r.Data != nil {
				t.Errorf("body = %s (%v), want one GraphQL error and no data", body, err)
			}
			if ct := header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
	t.Run("parse_error_is_200_with_errors", func(t *testing.T) {
		r := roundTrip(t, newPost(t, s.Endpoint(), "application/json", jsonBody(t, `{ book(id: `, nil)))
		if len(r.Errors) == 0 || r.Data != nil {
			t.Errorf("got data %s errors %+v, want errors and no data", r.Data, r.Errors)
		}
	})
	t.Run("validation_error_is_200_with_errors", func(t *testing.T) {
		r := roundTrip(t, newPost(t, s.Endpoint(), "application/json", jsonBody(t, `{ nope }`, nil)))
		if len(r.Errors) == 0 || r.Data != nil {
			t.Errorf("got data %s errors %+v, want errors and no data", r.Data, r.Errors)
		}
	})
	if got, want := s.Count(), len(tests)+2; got != want {
		t.Errorf("Count() = %d, want %d (refused requests are recorded too)", got, want)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := Start(t)
	const workers, perWorker = 8, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				var q string
				switch (w + i) % 3 {
				case 0:
					q = `mutation { createBook(title: "C", authorId: "a1", genre: HISTORY) { id } }`
				case 1:
					q = `mutation { renameAuthor(id: "a1", name: "R") { name } updateBook(id: "1", title: "U") { title } }`
				default:
					q = `{ author(id: "a1") { name books { id title author { name } } } search(text: "r") { __typename } clock }`
				}
				req := newPost(t, s.Endpoint(), "application/json", jsonBody(t, q, nil))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("%s: %v", q, err)
					return
				}
				var r response
				err = json.NewDecoder(res.Body).Decode(&r)
				res.Body.Close()
				if err != nil || len(r.Errors) != 0 {
					t.Errorf("%s: %v %+v", q, err, r.Errors)
				}
			}
		})
	}
	wg.Wait()
	if got, want := s.Count(), workers*perWorker; got != want {
		t.Errorf("Count() = %d, want %d", got, want)
	}
}
