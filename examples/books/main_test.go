package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/moatproxy/moat/examples/books/books"
)

// TestCommands runs seed, then warm and load against the API served on
// the seeded database.
func TestCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "books.db")
	cmd := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("books %s: exit %d\n%s%s", strings.Join(args, " "), code, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	out := cmd("seed", "-db", path, "-authors", "10", "-books", "120", "-reviews", "300")
	if !strings.Contains(out, "10 authors, 120 books, 300 reviews") {
		t.Errorf("seed said %q", out)
	}
	var stderr bytes.Buffer
	if code := run([]string{"seed", "-db", path, "-books", "120"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "already holds books") {
		t.Errorf("seed again: exit %d, %q; want 1 and ErrSeeded", code, stderr.String())
	}

	store, err := books.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	caches, err := books.NewCaches(books.CacheOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caches.Close() })
	api, err := books.NewAPI(books.Options{Store: store, Caches: caches, Mode: "memory"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)

	if out := cmd("warm", "-db", path, "-url", srv.URL, "-pages", "2", "-books", "3", "-rate", "1000"); !regexp.MustCompile(`^warmed (\d+) of (\d+) paths in .* \(0 failed\)\n$`).MatchString(out) {
		t.Errorf("warm said %q", out)
	}
	if caches.Stats().Loads() == 0 {
		t.Errorf("warm loaded nothing")
	}

	out = cmd("load", "-url", srv.URL, "-d", "300ms", "-c", "4", "-keys", "40", "-books", "120", "-authors", "10")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "setup") ||
		!regexp.MustCompile(`^books \(cache memory\) +[1-9]\d* +\S+ +\S+ +\d+ +0 +0$`).MatchString(lines[1]) {
		t.Errorf("load said:\n%s", out)
	}
}
