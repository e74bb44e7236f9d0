package gqltest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	graphql "github.com/graph-gophers/graphql-go"
)

// arrivedBuffer is the capacity of Arrived: enough for any test to read its
// arrivals late; beyond it, arrivals are not signalled (never blocked on).
const arrivedBuffer = 4096

// Server is a GraphQL API over an in-memory library of books and authors,
// served on a loopback httptest.Server, recording every request it receives.
// Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:port; the GraphQL endpoint
	// is URL+"/graphql" (see Endpoint).
	URL string

	srv     *httptest.Server
	schema  *graphql.Schema
	arrived chan struct{}
	// closing is closed before srv.Close, which waits for every handler:
	// requests still held by a Hold nobody released end then instead of
	// hanging the test's cleanup.
	closing chan struct{}

	mu       sync.Mutex
	requests []Request
	failWith int           // HTTP status set by Fail; 0 answers normally
	gate     chan struct{} // set by Hold, closed by its release; nil when not held
}

// Request is one HTTP request as the server received it. Its maps and slices
// are shared with the server's record: treat them as read-only.
type Request struct {
	Method        string
	Header        http.Header
	Query         string // the query text received
	OperationName string
	Variables     map[string]any
	Extensions    map[string]any
	// RootFields are the names (not aliases) of the root fields of the
	// operation to execute, in document order, fragments expanded, as
	// parsed by github.com/vektah/gqlparser/v2/parser, e.g. ["book",
	// "author"]; empty when the query does not parse or names no such
	// operation.
	RootFields []string
}

// Start starts a Server with freshly seeded data; t.Cleanup closes it. It
// fails t if graph-gophers rejects the schema.
func Start(t testing.TB) *Server {
	t.Helper()
	root := &rootResolver{lib: newLibrary(), clock: new(atomic.Int32)}
	// graph-gophers accepts the @cacheControl definitions and uses as they
	// are (and ignores them when executing), so it is handed SDL unchanged.
	schema, err := graphql.ParseSchema(SDL(), root)
	if err != nil {
		t.Fatalf("gqltest: parse schema: %v", err)
	}
	s := &Server{
		schema:  schema,
		arrived: make(chan struct{}, arrivedBuffer),
		closing: make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", s.serveHTTP) // other paths: 404, not recorded
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	t.Cleanup(func() {
		close(s.closing)
		s.srv.Close()
	})
	return s
}

// Endpoint returns the GraphQL endpoint, URL+"/graphql".
func (s *Server) Endpoint() string { return s.URL + "/graphql" }

// Requests returns a snapshot of every request received since Start or the
// last Reset, in the order they were recorded.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns the number of requests received since Start or the last Reset.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Reset forgets the recorded requests. The library keeps its data, mutations
// included, and Arrived keeps any values not yet received.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Fail makes every next request be answered with status and a plain-text
// body that is not GraphQL, until Fail(0). Requests are still recorded, and a
// held request takes the setting in force when it is released.
func (s *Server) Fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failWith = status
}

// Hold makes the next requests block, after they are recorded and signalled
// on Arrived, until release is called (or the client gives up, or the
// server closes: a Hold never released does not hang the test's cleanup).
// release may be called more than once. Calling Hold again while held starts
// a new hold: requests arriving after it wait for the new release, those
// already waiting keep waiting for the old one.
func (s *Server) Hold() (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.gate == gate {
				s.gate = nil
			}
			s.mu.Unlock()
			close(gate)
		})
	}
}

// Arrived receives one value per request recorded, so that a test can wait
// for a request to reach the origin without sleeping. Sends never block: past
// a buffer of thousands of unreceived values, arrivals go unsignalled.
func (s *Server) Arrived() <-chan struct{} { return s.arrived }

// record appends req to the record and returns the hold gate in force (nil
// when not held).
func (s *Server) record(req Request) (gate chan struct{}) {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	gate = s.gate
	s.mu.Unlock()
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	return gate
}

// failure returns the status set by Fail, 0 when not failing.
func (s *Server) failure() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failWith
}
