package gateway

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func getHost(h http.Handler, host, path string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHostAliasesShareEntriesAndPurges(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, nil, func(opt *Options) {
		opt.HostAliases = map[string]string{"localhost": "api.example", "www.api.example": "api.example"}
	})
	getHost(s.gw, "api.example", "/a")
	for _, host := range []string{"localhost", "WWW.api.example", "api.example"} {
		if r := getHost(s.gw, host, "/a"); r.Header().Get("X-Cache") != "HIT" {
			t.Fatalf("%s: %s, want the canonical host's entry", host, r.Header().Get("Cache-Status"))
		}
	}
	if r := getHost(s.gw, "other.example", "/a"); r.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("a host that is no alias shared the entry")
	}
	// A purge by URL of an alias purges the canonical host's entry.
	if _, err := s.gw.Purge(context.Background(), Purge{URLs: []string{"http://localhost/a"}}); err != nil {
		t.Fatal(err)
	}
	if r := getHost(s.gw, "api.example", "/a"); r.Header().Get("X-Cache") != "MISS" {
		t.Fatalf("after purging the alias's URL: %s", r.Header().Get("Cache-Status"))
	}
}

func TestKeyHostIsTheOrigins(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, r.Host)
	})
	u, _ := url.Parse(o.URL)
	s := newGateway(t, o, nil, func(opt *Options) { opt.KeyHost = u.Host })
	getHost(s.gw, "a.example", "/k")
	if r := getHost(s.gw, "b.example", "/k"); r.Header().Get("X-Cache") != "HIT" || r.Body.String() != u.Host {
		t.Fatalf("another client host: %s %q", r.Header().Get("X-Cache"), r.Body.String())
	}
	if _, err := New(Options{Origin: u, KeyHost: u.Host, PreserveHost: true}); err == nil {
		t.Fatal("KeyHost with PreserveHost accepted")
	}
}
