package policy

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMatch(t *testing.T) {
	tbl, err := New([]Policy{
		{Pattern: "GET /api/products/{id}", TTL: 5 * time.Minute},
		{Pattern: "GET /api/products/featured", TTL: time.Hour},
		{Pattern: "GET /api/catalog", TTL: time.Hour, OverrideOrigin: true},
		{Pattern: "/static/{path...}", TTL: 24 * time.Hour},
		{Pattern: "GET /{$}", TTL: time.Minute},
		{Pattern: "POST /api/products", Bypass: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, target, want string
	}{
		{"wildcard", "GET", "/api/products/42", "GET /api/products/{id}"},
		{"most_specific_wins", "GET", "/api/products/featured", "GET /api/products/featured"},
		{"head_matches_get", "HEAD", "/api/products/42", "GET /api/products/{id}"},
		{"method_mismatch", "DELETE", "/api/products/42", ""},
		{"no_method_matches_all", "PUT", "/static/css/site.css", "/static/{path...}"},
		{"exact_root", "GET", "/", "GET /{$}"},
		{"root_only", "GET", "/nothing", ""},
		{"query_ignored", "GET", "/api/catalog?x=1", "GET /api/catalog"},
		{"trailing_slash_differs", "GET", "/api/catalog/", ""},
		{"unclean_path_no_route", "GET", "/api/../api/catalog", ""},
		{"post_route", "POST", "/api/products", "POST /api/products"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if p := tbl.Match(httptest.NewRequest(tt.method, tt.target, nil)); p != nil {
				got = p.Pattern
			}
			if got != tt.want {
				t.Errorf("Match(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
			}
		})
	}
}

func TestInvalidPatterns(t *testing.T) {
	for _, pats := range [][]string{
		{"GET"},
		{"GET /a/{id"},
		{"GET /a/{id}/{id}"},
		{"GET /a/{x}", "GET /a/{y}"}, // conflict: same requests, neither more specific
		{"GET /a", "GET /a"},
	} {
		var pols []Policy
		for _, p := range pats {
			pols = append(pols, Policy{Pattern: p})
		}
		_, err := New(pols)
		if !errors.Is(err, ErrPattern) {
			t.Errorf("New(%q) error = %v, want ErrPattern", pats, err)
		}
	}
}

func TestNilTableMatchesNothing(t *testing.T) {
	var tbl *Table
	if tbl.Match(httptest.NewRequest("GET", "/", nil)) != nil {
		t.Error("nil table matched")
	}
}

// FuzzPattern checks that arbitrary patterns never panic New, and that a
// table that accepts a pattern never panics matching arbitrary paths.
func FuzzPattern(f *testing.F) {
	for _, s := range []string{"GET /api/products/{id}", "/static/{p...}", "GET /{$}", "GET /a/{x}/b", "{", "GET /%zz", "GET example.com/x", "/a/{b}/{c...}"} {
		f.Add(s, "/api/products/1")
	}
	f.Fuzz(func(t *testing.T, pattern, path string) {
		tbl, err := New([]Policy{{Pattern: pattern}})
		if err != nil {
			return
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = path
		r.URL.RawPath = ""
		if p := tbl.Match(r); p != nil && p.Pattern != pattern {
			t.Fatalf("matched %q, want %q or nothing", p.Pattern, pattern)
		}
	})
}

func TestExpand(t *testing.T) {
	tests := []struct {
		pattern, path string
		templates     []string
		want          string
	}{
		{"GET /api/products/{id}", "/api/products/42", []string{"product:{id}", "products"}, "product:42 products"},
		{"PUT /api/{kind}/{id}", "/api/books/9%2F1", []string{"{kind}:{id}"}, "books:9/1"},
		{"/static/{path...}", "/static/css/a.css", []string{"file:{path}"}, "file:css/a.css"},
		{"GET /a/{id}", "/a/1", []string{"x:{missing}", "ok"}, "ok"},
		{"GET /{$}", "/", []string{"home"}, "home"},
	}
	for _, tt := range tests {
		p := &Policy{Pattern: tt.pattern}
		if got := strings.Join(p.Expand(tt.templates, tt.path), " "); got != tt.want {
			t.Errorf("Expand(%q, %q, %q) = %q, want %q", tt.pattern, tt.path, tt.templates, got, tt.want)
		}
	}
}
