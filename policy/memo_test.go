package policy

import (
	"net/http"
	"net/url"
	"testing"
)

// TestMatchMemoAgreesWithServeMux: whatever order requests come in, a
// memoized match is the one ServeMux gives, including for requests that
// differ only in what ServeMux reads besides the decoded path (the raw
// path, the host, the method).
func TestMatchMemoAgreesWithServeMux(t *testing.T) {
	tbl, err := New([]Policy{
		{Pattern: "GET /a/b"},
		{Pattern: "GET /a/{x}"},
		{Pattern: "GET api.example/h/"},
		{Pattern: "POST /p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := func(method, host, path, raw string) *http.Request {
		return &http.Request{Method: method, Host: host, URL: &url.URL{Path: path, RawPath: raw}}
	}
	reqs := []*http.Request{
		req("GET", "x", "/a/b", ""),
		req("GET", "x", "/a/b", "/a%2Fb"),
		req("GET", "x", "/a/b/", ""),
		req("GET", "api.example", "/h/1", ""),
		req("GET", "other.example", "/h/1", ""),
		req("GET", "api.example:8080", "/h/1", ""),
		req("HEAD", "x", "/a/b", ""),
		req("POST", "x", "/a/b", ""),
		req("POST", "x", "/p", ""),
		req("GET", "x", "/a/../a/b", ""),
		req("CONNECT", "x", "/a/b", ""),
	}
	direct := func(r *http.Request) *Policy {
		h, _ := tbl.mux.Handler(r)
		if rt, ok := h.(route); ok {
			return rt.p
		}
		return nil
	}
	for round := range 3 {
		for i := range reqs {
			r := reqs[i]
			if round == 1 {
				r = reqs[len(reqs)-1-i]
			}
			if got, want := tbl.Match(r), direct(r); got != want {
				t.Errorf("round %d: Match(%s %s %q raw %q) = %v, ServeMux says %v", round, r.Method, r.Host, r.URL.Path, r.URL.RawPath, got, want)
			}
		}
	}
	if tbl.Match(reqs[0]) == tbl.Match(reqs[1]) {
		t.Error("/a/b and /a%2Fb matched the same route: the test does not tell raw paths apart")
	}
}
