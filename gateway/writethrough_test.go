package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// Replace makes the test fleet's shared tier a cache.Replacer, through the
// codec as its Set is.
func (r remoteInvalidator) Replace(ctx context.Context, key string, e *cache.Entry, after time.Time) error {
	c, err := cache.DecodeEntry(cache.AppendEntry(nil, e))
	if err != nil {
		return err
	}
	return r.inv.(cache.Replacer).Replace(ctx, key, c, after)
}

// bookOrigin keeps /books/{id} in memory: GET answers the current state,
// PUT replaces it and answers the new state (with Content-Location unless
// the path holds "noloc"). hold, if set, is waited on by GETs after they
// read the state, to make a slow fill.
type bookOrigin struct {
	*origin
	mu    sync.Mutex
	state map[string]string
	hold  chan struct{}
	read  chan struct{} // a held GET read the state
}

func newBookOrigin(t *testing.T) *bookOrigin {
	b := &bookOrigin{state: map[string]string{}}
	b.origin = newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			b.mu.Lock()
			body, hold, read := b.state[r.URL.Path], b.hold, b.read
			b.mu.Unlock()
			if body == "" {
				body = "old " + r.URL.Path
			}
			if hold != nil {
				read <- struct{}{}
				<-hold
			}
			w.Header().Set("Cache-Control", "max-age=600")
			io.WriteString(w, body)
		case http.MethodPut, http.MethodPatch:
			in, _ := io.ReadAll(r.Body)
			b.mu.Lock()
			b.state[r.URL.Path] = string(in)
			b.mu.Unlock()
			if !strings.Contains(r.URL.Path, "noloc") {
				w.Header().Set("Content-Location", r.URL.Path)
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write(in)
		}
	})
	return b
}

func (n *node) put(t *testing.T, path, body string, header ...string) result {
	t.Helper()
	req, _ := http.NewRequest("PUT", n.front.URL+path, strings.NewReader(body))
	req.Host = "api.example"
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := n.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

// bookRoutes give the GETs a ttl: the answer to a PUT rarely carries
// freshness of its own, and the GET route's ttl is what a write-through
// entry gets then.
var bookRoutes = []policy.Policy{
	{Pattern: "GET /books/{id}", TTL: 10 * time.Minute},
	{Pattern: "PUT /flagged/{id}", WriteThrough: true},
	{Pattern: "GET /flagged/{id}", TTL: 10 * time.Minute},
}

// TestWriteThroughIsAHitOnEveryNode: a PUT through one node, answered
// with the new state and Content-Location equal to its target, makes the
// next GET a hit with the new body on every node of the fleet (the others
// through L2), without asking the origin again.
func TestWriteThroughIsAHitOnEveryNode(t *testing.T) {
	o := newBookOrigin(t)
	fl := newSharedFleet(t, o.origin, bookRoutes, nil)
	a, b, c := fl.start(), fl.start(), fl.start()
	for _, n := range []*node{a, b, c} {
		w := n.gw.l2.Written.Load()
		r := n.do(t, "GET", "/books/1")
		if r.body != "old /books/1" {
			t.Fatalf("first read: %q", r.body)
		}
		if r.header.Get("X-Cache") == "MISS" {
			n.written(t, w+1) // a fill that reaches L2 after the write is fenced, and so removes it from L2
		}
	}
	gets := o.count("GET /books/1")
	w := a.gw.l2.Written.Load()
	if r := a.put(t, "/books/1", "new title"); r.status != 200 || r.body != "new title" {
		t.Fatalf("PUT: %d %q", r.status, r.body)
	}
	a.written(t, w+1)
	for i, n := range []*node{a, b, c} {
		r := n.do(t, "GET", "/books/1")
		if r.body != "new title" {
			t.Errorf("node %d after the PUT: %q (%s), want the new body", i, r.body, r.header.Get("Cache-Status"))
		}
		wantXCache(t, r, "HIT")
	}
	if got := o.count("GET /books/1"); got != gets {
		t.Errorf("origin GETs after the PUT: %d, want none", got-gets)
	}
	if got := a.gw.Stats().WriteThroughs.Load(); got != 1 {
		t.Errorf("write-throughs counted: %d, want 1", got)
	}
}

// TestWriteThroughIsNotOvertakenBySlowFill: a GET fill that read the old
// state before the PUT and answers after it never replaces the
// write-through's entry, on the node of the PUT or on another.
func TestWriteThroughIsNotOvertakenBySlowFill(t *testing.T) {
	for _, sameNode := range []bool{true, false} {
		name := map[bool]string{true: "same_node", false: "other_node"}[sameNode]
		t.Run(name, func(t *testing.T) {
			o := newBookOrigin(t)
			fl := newSharedFleet(t, o.origin, bookRoutes, nil)
			a, b := fl.start(), fl.start()
			slow := a
			if !sameNode {
				slow = b
			}
			o.mu.Lock()
			o.hold, o.read = make(chan struct{}), make(chan struct{}, 1)
			o.mu.Unlock()
			done := make(chan result)
			go func() { done <- slow.do(t, "GET", "/books/2") }()
			<-o.read // the slow fill read the old state
			o.mu.Lock()
			hold := o.hold
			o.hold = nil
			o.mu.Unlock()
			w := a.gw.l2.Written.Load()
			a.put(t, "/books/2", "v2")
			close(hold)
			if r := <-done; r.body != "old /books/2" {
				t.Fatalf("the slow fill's own answer: %q", r.body)
			}
			a.written(t, w+1)
			for i, n := range []*node{a, b} {
				r := n.do(t, "GET", "/books/2")
				if r.body != "v2" {
					t.Errorf("node %d: %q (%s): the slow fill overwrote the write-through", i, r.body, r.header.Get("Cache-Status"))
				}
			}
		})
	}
}

// TestWriteThroughOnlyForItsTarget: an answer is stored for the GET only
// when it says it is the target's state (Content-Location, or the
// route's write_through), never for a request with credentials on a
// shared route, and a later purge still removes it.
func TestWriteThroughOnlyForItsTarget(t *testing.T) {
	o := newBookOrigin(t)
	fl := newSharedFleet(t, o.origin, bookRoutes, nil)
	a := fl.start()

	t.Run("no_content_location_no_rule", func(t *testing.T) {
		a.put(t, "/books/noloc", "x")
		wantXCache(t, a.do(t, "GET", "/books/noloc"), "MISS")
	})
	t.Run("route_rule_without_content_location", func(t *testing.T) {
		a.put(t, "/flagged/noloc", "flagged")
		r := a.do(t, "GET", "/flagged/noloc")
		wantXCache(t, r, "HIT")
		if r.body != "flagged" {
			t.Errorf("body %q", r.body)
		}
	})
	t.Run("credentials_are_not_shared", func(t *testing.T) {
		// RFC 9111 §3.5: the answer to a request with Authorization is
		// not stored for everyone.
		a.put(t, "/books/secret", "alice's view", "Authorization", "Bearer alice")
		r := a.do(t, "GET", "/books/secret")
		wantXCache(t, r, "MISS")
	})
	t.Run("a_later_purge_wins", func(t *testing.T) {
		a.put(t, "/books/3", "v3")
		wantXCache(t, a.do(t, "GET", "/books/3"), "HIT")
		if _, err := a.gw.Purge(context.Background(), Purge{URLs: []string{"http://api.example/books/3"}}); err != nil {
			t.Fatal(err)
		}
		wantXCache(t, a.do(t, "GET", "/books/3"), "MISS")
	})
}
