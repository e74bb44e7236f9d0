package gateway

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/policy"
)

func TestNormalizedKeysAndOrigin(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "q="+r.URL.RawQuery)
	})
	norm, err := cachekey.NewNormalizer(cachekey.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := norm.CompileParams(cachekey.Params{Defaults: map[string]string{"page": "1"}, Allow: []string{"page", "sort", "q"}})
	if err != nil {
		t.Fatal(err)
	}
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /search", Params: rules}}, func(o *Options) { o.Normalizer = norm })

	first := s.do(t, "GET", "/items?sort=price&page=1")
	second := s.do(t, "GET", "/items?page=1&sort=price&utm_source=x")
	wantXCache(t, first, "MISS")
	wantXCache(t, second, "HIT")
	if first.body != "q=page=1&sort=price" {
		t.Errorf("origin saw %q, want the sorted query", first.body)
	}
	if n := o.count("GET /items?page=1&sort=price"); n != 1 {
		t.Errorf("origin requests for the normalized URL = %d, want 1", n)
	}
	for uri := range o.counts {
		if strings.Contains(uri, "utm_") {
			t.Errorf("a stripped parameter reached the origin: %s", uri)
		}
	}

	// Route params: the default and junk parameters go; the origin sees
	// only what the key says.
	a := s.do(t, "GET", "/search?q=tea&page=1&junk=7")
	b := s.do(t, "GET", "/search?q=tea")
	wantXCache(t, a, "MISS")
	wantXCache(t, b, "HIT")
	if a.body != "q=q=tea" {
		t.Errorf("origin saw %q, want q=tea only", a.body)
	}
}

func TestVaryDimensions(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "lang="+r.Header.Get("Accept-Language"))
	})
	pols := []policy.Policy{{Pattern: "GET /books/{id}", Vary: []string{"Accept-Language"}, Languages: []string{"en", "de", "fr"}}}
	s := newGateway(t, o, pols, nil)
	for _, tt := range []struct{ header, want, xcache string }{
		{"de-DE,de;q=0.9", "lang=de", "MISS"},
		{"de", "lang=de", "HIT"},
		{"fr-CA", "lang=fr", "MISS"},
		{"", "lang=en", "MISS"},
		{"en-GB,en;q=0.8", "lang=en", "HIT"},
	} {
		var r result
		if tt.header == "" {
			r = s.do(t, "GET", "/books/1")
		} else {
			r = s.do(t, "GET", "/books/1", "Accept-Language", tt.header)
		}
		if r.body != tt.want || r.xcache() != tt.xcache {
			t.Errorf("Accept-Language %q: %s %q, want %s %q", tt.header, r.xcache(), r.body, tt.xcache, tt.want)
		}
	}
}

// headerIdentifier stands for a trusted upstream that has already verified
// the caller: X-Test-Tier / X-Test-User, with "forged" marking credentials
// that failed verification.
type headerIdentifier struct{}

func (headerIdentifier) HasCredentials(r *http.Request) bool {
	return r.Header.Get("X-Test-Tier") != "" || r.Header.Get("X-Test-User") != ""
}

func (headerIdentifier) Identify(r *http.Request) Identity {
	tier, user := r.Header.Get("X-Test-Tier"), r.Header.Get("X-Test-User")
	switch {
	case tier == "" && user == "":
		return Identity{Tier: "anonymous"}
	case tier == "forged":
		return Identity{Credentialed: true, Reason: "bad signature"}
	}
	return Identity{Tier: tier, User: user, Credentialed: true, Valid: true}
}

func TestTierScope(t *testing.T) {
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "%s #%d", cmpOr(r.Header.Get("X-Test-Tier"), "anonymous"), n.Add(1))
	})
	pols := []policy.Policy{{Pattern: "GET /deals", Scope: policy.ScopeTier}, {Pattern: "GET /me", Scope: policy.ScopeUser}, {Pattern: "GET /pub"}}
	s := newGateway(t, o, pols, func(o *Options) { o.Identifier = headerIdentifier{} })

	var wg sync.WaitGroup
	var wrong atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tier := []string{"", "premium", "free"}[i%3]
			var r result
			if tier == "" {
				r = s.do(t, "GET", "/deals")
			} else {
				r = s.do(t, "GET", "/deals", "X-Test-Tier", tier)
			}
			if !strings.HasPrefix(r.body, cmpOr(tier, "anonymous")+" #") {
				wrong.Add(1)
			}
		}()
	}
	wg.Wait()
	if wrong.Load() != 0 {
		t.Fatalf("%d responses went to the wrong tier", wrong.Load())
	}
	if got := o.count("GET /deals"); got != 3 {
		t.Errorf("origin requests = %d, want 3 (one per tier)", got)
	}

	forged := s.do(t, "GET", "/deals", "X-Test-Tier", "forged")
	if forged.xcache() != "BYPASS" || strings.HasPrefix(forged.body, "premium") {
		t.Errorf("forged credentials: %s %q, want an uncached origin answer", forged.xcache(), forged.body)
	}

	alice1 := s.do(t, "GET", "/me", "X-Test-Tier", "free", "X-Test-User", "alice-hash")
	alice2 := s.do(t, "GET", "/me", "X-Test-Tier", "free", "X-Test-User", "alice-hash")
	bob := s.do(t, "GET", "/me", "X-Test-Tier", "free", "X-Test-User", "bob-hash")
	if alice2.xcache() != "HIT" || alice2.body != alice1.body || bob.xcache() != "MISS" || bob.body == alice1.body {
		t.Errorf("user scope: alice %s %q, bob %s %q", alice2.xcache(), alice2.body, bob.xcache(), bob.body)
	}
	if anon := s.do(t, "GET", "/me"); anon.xcache() != "BYPASS" {
		t.Errorf("user route without a user: %s, want BYPASS", anon.xcache())
	}

	s.do(t, "GET", "/pub")
	if r := s.do(t, "GET", "/pub", "X-Test-Tier", "premium"); r.xcache() != "BYPASS" {
		t.Errorf("credentials on a public route: %s, want BYPASS", r.xcache())
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestCompressionStoresOneRepresentation(t *testing.T) {
	body := strings.Repeat(`{"id":1,"name":"a product with a long description"},`, 60)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzip.NewWriter(w)
			io.WriteString(gz, body)
			gz.Close()
			return
		}
		io.WriteString(w, body)
	})
	s := newGateway(t, o, nil, func(o *Options) { o.Compress = true })
	// Teach the mix that clients accept gzip.
	for range 20 {
		s.do(t, "HEAD", "/warm-mix", "Accept-Encoding", "gzip")
	}
	s.do(t, "GET", "/p", "Accept-Encoding", "gzip")

	raw := func(ae string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", s.front.URL+"/p", nil)
		if ae != "" {
			req.Header.Set("Accept-Encoding", ae)
		}
		tr := &http.Transport{DisableCompression: true}
		defer tr.CloseIdleConnections()
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	gz, gzBody := raw("gzip, br")
	if gz.Header.Get("X-Cache") != "HIT" || gz.Header.Get("Content-Encoding") == "" || len(gzBody) >= len(body) {
		t.Fatalf("gzip client: %s, Content-Encoding %q, %d bytes", gz.Header.Get("X-Cache"), gz.Header.Get("Content-Encoding"), len(gzBody))
	}
	if !strings.Contains(gz.Header.Get("Vary"), "Accept-Encoding") || !strings.HasPrefix(gz.Header.Get("Etag"), "W/") {
		t.Errorf("encoded hit: Vary %q ETag %q", gz.Header.Get("Vary"), gz.Header.Get("Etag"))
	}
	plain, plainBody := raw("")
	if plain.Header.Get("X-Cache") != "HIT" || plain.Header.Get("Content-Encoding") != "" || string(plainBody) != body {
		t.Errorf("identity client: %s, Content-Encoding %q, body ok %v", plain.Header.Get("X-Cache"), plain.Header.Get("Content-Encoding"), string(plainBody) == body)
	}
	if plain.ContentLength != int64(len(body)) {
		t.Errorf("identity Content-Length %d, want %d", plain.ContentLength, len(body))
	}
	if n := o.count("GET /p"); n != 1 {
		t.Errorf("origin requests = %d: Accept-Encoding split the cache", n)
	}
}
