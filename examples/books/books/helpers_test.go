package books

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// small is the dataset of most tests: 200 books (ids 1..200), 12 authors.
var small = SeedOptions{Authors: 12, Books: 200, Reviews: 600, Seed: 7}

// seeded returns the path of a new database in a temp dir, seeded with o.
func seeded(t testing.TB, o SeedOptions) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "books.db")
	s := openStore(t, path)
	if err := s.Seed(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	return path
}

// openStore opens path, closed when the test ends.
func openStore(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// app is one instance of the API under test.
type app struct {
	t      testing.TB
	store  *Store
	caches *Caches // nil without a cache
	url    string
}

// newApp serves the API on store with caches from o (nil: no cache), on
// an httptest server closed when the test ends.
func newApp(t testing.TB, store *Store, o *CacheOptions) *app {
	t.Helper()
	a := &app{t: t, store: store}
	mode := "off"
	if o != nil {
		o.Logger = quiet
		c, err := NewCaches(*o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		a.caches, mode = c, "memory"
	}
	api, err := NewAPI(Options{Store: store, Caches: a.caches, Mode: mode, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

// response is an answer of the API.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request; body, if not nil, is sent as JSON.
func (a *app) do(method, path string, body any) response {
	a.t.Helper()
	return send(a.t, method, a.url+path, body)
}

func send(t testing.TB, method, url string, body any) response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, data}
}

// get GETs path, wants 200 and decodes the answer into a V. It returns
// the value and how many statements the database ran meanwhile.
func get[V any](a *app, path string) (V, int64) {
	a.t.Helper()
	before := a.store.Queries()
	r := a.do(http.MethodGet, path, nil)
	queries := a.store.Queries() - before
	var v V
	if r.status != http.StatusOK {
		a.t.Fatalf("GET %s = %d %s; want 200", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	return v, queries
}

// loads returns the loads of the named cache so far.
func (a *app) loads(cache string) uint64 {
	return a.caches.Stats()[cache].Loads
}

// eventually polls cond until it holds, failing the test after 5s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond) // polling, not synchronization
	}
}

// mustJSON is v's JSON, for comparing answers.
func mustJSON(t testing.TB, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func ptr[T any](v T) *T { return &v }
