package security

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// Class: web cache poisoning by unkeyed input. An attacker sends a request
// whose key is an ordinary one but which carries something the key does not
// (a header, a body, a host spelling, a hop-by-hop trick) that the origin
// honours; the poisoned answer is then served to everyone. The rule: what the
// origin receives is exactly what the key describes, so nothing unkeyed can
// change the stored answer.

// poisonOrigin behaves like a framework that honours the usual override
// headers: method overrides answer 405, URL overrides rewrite the path,
// underscore fields are read as their dashed names (CGI, PHP, Rack), and
// every other header is reflected into the body (think of links built from
// X-Forwarded-Host). All answers are public for 60s.
func poisonOrigin(w http.ResponseWriter, r *http.Request, ex exchange) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	for _, n := range []string{"X-Http-Method-Override", "X-Http-Method", "X-Method-Override"} {
		if v := ex.Header.Get(n); v != "" {
			w.WriteHeader(http.StatusMethodNotAllowed)
			fmt.Fprintf(w, "evil: method overridden to %s by %s", v, n)
			return
		}
	}
	if strings.HasPrefix(ex.RequestURI, "/vary") {
		lang := ex.Header.Get("Accept-Language")
		if lang == "" {
			lang = "en"
		}
		fmt.Fprintf(w, "lang=%s", lang)
		return
	}
	for k, v := range ex.Header {
		if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), "X-API-Key") && v[0] == premiumKey {
			fmt.Fprint(w, "premium content for acme (read from "+k+")")
			return
		}
	}
	var names []string
	for k := range ex.Header {
		switch k {
		case "Accept-Encoding", "User-Agent", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
			continue
		}
		names = append(names, k)
	}
	slices.Sort(names)
	var refl []string
	for _, k := range names {
		refl = append(refl, k+"="+strings.Join(ex.Header[k], ","))
	}
	body := echoBody(ex) + " proto=" + ex.Header.Get("X-Forwarded-Proto") + " reflected=[" + strings.Join(refl, " ") + "]"
	if len(ex.Body) > 0 {
		body += " body=" + string(ex.Body)
	}
	fmt.Fprint(w, body)
}

const poisonYAML = authYAML + `routes:
  - match: GET /vary
    vary: [Accept-Language]
    languages: [en, de]
    ttl: 60s
`

// receivedField reports whether the origin request carried a field whose
// name equals name, ignoring case.
func receivedField(ex exchange, name string) bool {
	for k := range ex.Header {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func TestPoisoningUnkeyedHeaders(t *testing.T) {
	e := start(t, poisonOrigin, poisonYAML)
	// Every field frameworks honour to rewrite the URL, method, scheme,
	// host or port (internal/cachekey/unkeyed.go), and fields whose name
	// has '_' (origins that fold '_' into '-' read X_Forwarded_Host as
	// X-Forwarded-Host, around moat's own handling of the real field).
	cases := []struct {
		field, value string
	}{
		{"X-Forwarded-Scheme", "evil-https"},
		{"X-Forwarded-Port", "6666"},
		{"X-Forwarded-Prefix", "/evil"},
		{"X-Forwarded-Path", "/evil"},
		{"X-Forwarded-Ssl", "evil-on"},
		{"X-Forwarded-Server", "evil.example"},
		{"X-Original-URL", "/evil"},
		{"X-Rewrite-URL", "/evil"},
		{"X-Original-Host", "evil.example"},
		{"X-Host", "evil.example"},
		{"X-HTTP-Host-Override", "evil.example"},
		{"X-HTTP-Method-Override", "DELETE"},
		{"X-HTTP-Method", "DELETE"},
		{"X-Method-Override", "DELETE"},
		{"Front-End-Https", "evil-on"},
		{"X_Forwarded_Host", "evil.example"},
		{"X_Forwarded_Proto", "evil-https"},
		{"X_Original_URL", "/evil"},
		{"X_API_Key", premiumKey},
	}
	for _, c := range cases {
		t.Run("strip_"+c.field, func(t *testing.T) {
			// rule: an unkeyed field never reaches the origin, so it cannot
			// choose the answer stored for everyone.
			target := "/page?case=" + c.field
			before := e.origin.count()
			first := e.get(target, c.field+": "+c.value)
			if first.err != nil {
				t.Fatal(first.err)
			}
			if e.origin.count() > before {
				if ex := e.origin.last(); receivedField(ex, c.field) || strings.Contains(strings.Join(mapKeys(ex.Header), " "), "_") {
					t.Errorf("origin received %s (fields %v); want it stripped before the origin", c.field, mapKeys(ex.Header))
				}
			}
			clean := e.get(target)
			if strings.Contains(clean.body, "evil") || strings.Contains(clean.body, "premium") || clean.status == http.StatusMethodNotAllowed {
				t.Errorf("clean request after %s: %v; the poisoned answer was stored for everyone", c.field, clean)
			}
		})
	}

	t.Run("method_override_never_stores_405_for_everyone", func(t *testing.T) {
		// rule: one client's X-HTTP-Method-Override never makes the key
		// answer 405 for everyone.
		for i := range 3 {
			e.get("/account/settings?o=1", "X-HTTP-Method-Override: PUT")
			if r := e.get("/account/settings?o=1"); r.status != http.StatusOK {
				t.Fatalf("round %d: clean GET got %v, want the origin's 200", i, r)
			}
		}
	})

	t.Run("forwarded_fields_are_moats_own", func(t *testing.T) {
		// rule: Forwarded, X-Forwarded-Host and X-Forwarded-Proto reaching
		// the origin are set by moat from the request itself, never
		// copied from the client (they are not in the key).
		r := e.get("/fwd", "X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "Forwarded: host=evil.example;proto=https")
		if r.err != nil {
			t.Fatal(r.err)
		}
		ex := e.origin.last()
		if got := ex.Header.Get("X-Forwarded-Host"); got != "example.test" {
			t.Errorf("origin X-Forwarded-Host = %q, want example.test", got)
		}
		if got := ex.Header.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("origin X-Forwarded-Proto = %q, want http", got)
		}
		if strings.Contains(strings.Join(ex.Header.Values("Forwarded"), ","), "evil") {
			t.Errorf("origin Forwarded = %q: the client's value was passed on", ex.Header.Values("Forwarded"))
		}
	})

	t.Run("tracking_parameter_cloaking", func(t *testing.T) {
		// rule: a stripped tracking parameter is stripped whole, whatever
		// its value hides (';' is not a separator to moat, but is to some
		// origins: utm_source=x;callback=evil).
		for _, target := range []string{"/cloak?utm_source=x;callback=evil", "/cloak?callback=ok&utm_content=a;callback=evil", "/cloak?utm_medium=%26callback%3Devil"} {
			e.get(target)
			if ex := e.origin.last(); strings.Contains(ex.RequestURI, "evil") {
				t.Errorf("%s: origin received %q; the stripped parameter's value reached it", target, ex.RequestURI)
			}
		}
		if r := e.get("/cloak?callback=ok"); strings.Contains(r.body, "evil") {
			t.Errorf("clean /cloak?callback=ok: %v", r)
		}
	})

	t.Run("connection_nominated_vary_field", func(t *testing.T) {
		// rule: a field the key varies on reaches the origin with the keyed
		// value; "Connection: Accept-Language" must not strip it after
		// keying, which would store the default language under "de".
		e.get("/vary", "Accept-Language: de", "Connection: Accept-Language")
		r := e.get("/vary", "Accept-Language: de")
		if r.body != "lang=de" {
			t.Errorf("Accept-Language: de after a Connection-nominated request: %v, want lang=de", r)
		}
		if r := e.get("/vary", "Accept-Language: en"); r.body != "lang=en" {
			t.Errorf("Accept-Language: en: %v, want lang=en", r)
		}
	})

	t.Run("connection_nominated_custom_field_reaches_nobody", func(t *testing.T) {
		// rule: a field named in Connection is hop-by-hop and never reaches
		// the origin (RFC 9110 §7.6.1), so it cannot vary the answer.
		e.get("/hop", "X-Evil: evil", "Connection: X-Evil")
		if ex := e.origin.last(); receivedField(ex, "X-Evil") {
			t.Errorf("origin received the Connection-nominated X-Evil")
		}
	})
}

func mapKeys(h http.Header) []string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func TestPoisoningHostSpellings(t *testing.T) {
	// rule: the host is part of the key in its normalized form (lower
	// case, default port removed), and the origin receives that same form in
	// X-Forwarded-Host (and in Host with host_header: client), so two
	// spellings of one host share one entry and the origin can tell no
	// difference between them.
	for _, mode := range []string{"origin", "client"} {
		t.Run("host_header_"+mode, func(t *testing.T) {
			e := start(t, echo("public, max-age=60"), "", withOrigin("host_header: "+mode))
			cases := []struct {
				name, target, host, want string
			}{
				{"upper_case_and_default_port", "/h1", "EXAMPLE.test:80", "example.test"},
				{"mixed_case", "/h2", "Example.TEST", "example.test"},
				{"empty_port", "/h3", "example.test:", "example.test"},
				{"other_port_kept", "/h4", "Example.test:8080", "example.test:8080"},
				{"absolute_form_wins_over_host", "http://Other.TEST:80/h5", "example.test", "other.test"},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					first := e.do(req{target: c.target, host: c.host})
					if first.err != nil || first.status >= 400 {
						if first.status >= 400 && first.status < 500 {
							return // refusing a spelling is fine
						}
						t.Fatalf("first request: %v", first)
					}
					ex := e.origin.last()
					if got := ex.Header.Get("X-Forwarded-Host"); got != c.want {
						t.Errorf("origin X-Forwarded-Host = %q, want %q", got, c.want)
					}
					if mode == "client" && ex.Host != c.want {
						t.Errorf("origin Host = %q, want %q", ex.Host, c.want)
					}
					path := c.target
					if i := strings.Index(path, "://"); i >= 0 {
						path = path[i+3:]
						path = path[strings.IndexByte(path, '/'):]
					}
					second := e.do(req{target: path, host: c.want})
					if !second.hit() || second.body != first.body {
						t.Errorf("canonical spelling %s%s after %q: %v; want a HIT of the same entry %q", c.want, path, c.host, second, first.body)
					}
				})
			}
		})
	}
}

func TestPoisoningFatRequests(t *testing.T) {
	// rule: a GET or HEAD with a body is forwarded uncached: it is never
	// answered from the cache (the origin may read the body) and its answer
	// is never stored (Cache-Status says fwd=bypass).
	e := start(t, poisonOrigin, "")
	bodies := []struct {
		name    string
		headers []string
		body    string
	}{
		{"content_length", []string{"Content-Length: 6"}, "x=evil"},
		{"chunked", []string{"Transfer-Encoding: chunked"}, "6\r\nx=evil\r\n0\r\n\r\n"},
	}
	for _, method := range []string{"GET", "HEAD"} {
		for _, b := range bodies {
			t.Run(method+"_"+b.name+"_not_stored", func(t *testing.T) {
				target := "/fat-new?m=" + method + "&b=" + b.name
				r := e.do(req{method: method, target: target, headers: b.headers, body: b.body})
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.status < 400 && !hasParam(r.cacheStatus(), "fwd=bypass") {
					t.Errorf("%s with a body: Cache-Status %q, want fwd=bypass", method, r.cacheStatus())
				}
				if r.stored() {
					t.Errorf("%s with a body was stored: %v", method, r)
				}
				if clean := e.get(target); strings.Contains(clean.body, "evil") || clean.hit() {
					t.Errorf("clean GET after a fat %s: %v; want a fresh origin answer", method, clean)
				}
			})
			t.Run(method+"_"+b.name+"_not_served_from_cache", func(t *testing.T) {
				target := "/fat-warm?m=" + method + "&b=" + b.name
				if w := e.get(target); w.err != nil || !w.stored() {
					t.Fatalf("warm-up: %v", w)
				}
				before := e.origin.count()
				r := e.do(req{method: method, target: target, headers: b.headers, body: b.body})
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.status < 400 && (r.hit() || e.origin.count() != before+1) {
					t.Errorf("%s with a body: %v (origin requests %d → %d); want it forwarded, not answered from the cache", method, r, before, e.origin.count())
				}
				if clean := e.get(target); !clean.hit() || strings.Contains(clean.body, "evil") {
					t.Errorf("clean GET after: %v; want the warm entry, untouched", clean)
				}
			})
		}
	}
}

func TestPoisoningConfiguredHeaders(t *testing.T) {
	t.Run("strip_headers_adds_fields", func(t *testing.T) {
		// rule: security.strip_headers names more fields the origin honours
		// but the key does not carry; they never reach the origin.
		e := start(t, poisonOrigin, "security:\n  strip_headers: [X-Custom-Rewrite, X-Original-URL]\n")
		e.get("/custom", "X-Custom-Rewrite: /evil")
		if ex := e.origin.last(); receivedField(ex, "X-Custom-Rewrite") {
			t.Errorf("origin received X-Custom-Rewrite, listed in security.strip_headers")
		}
		if r := e.get("/custom"); strings.Contains(r.body, "evil") {
			t.Errorf("clean request: %v", r)
		}
	})
	t.Run("underscore_fields_allowed_only_when_configured", func(t *testing.T) {
		// rule: with security.allow_underscore_headers: true the operator
		// says the origin does not fold '_' into '-'; the field then
		// reaches it.
		e := start(t, poisonOrigin, "security:\n  allow_underscore_headers: true\n")
		e.get("/under", "X_Trace_Id: abc")
		if ex := e.origin.last(); !receivedField(ex, "X_Trace_Id") {
			t.Errorf("origin fields %v: X_Trace_Id dropped although allow_underscore_headers is true", mapKeys(ex.Header))
		}
	})
}

func TestPoisoningOriginVaryAndRanges(t *testing.T) {
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		switch {
		case strings.HasPrefix(ex.RequestURI, "/varies"):
			w.Header().Set("Vary", "X-Variant")
			fmt.Fprintf(w, "variant=%s", ex.Header.Get("X-Variant"))
		case ex.Header.Get("Range") != "":
			w.Header().Set("Content-Range", "bytes 0-3/13")
			w.WriteHeader(http.StatusPartialContent)
			fmt.Fprint(w, "evil")
		default:
			fmt.Fprint(w, "whole answer")
		}
	}, "")
	t.Run("origin_vary_is_honoured", func(t *testing.T) {
		// rule: a field the origin names in Vary is part of the key on top
		// of the route's: one client's value is never served to a client
		// with another (or none).
		e.get("/varies", "X-Variant: evil")
		if r := e.get("/varies"); strings.Contains(r.body, "evil") {
			t.Errorf("client without X-Variant: %v", r)
		}
		if r := e.get("/varies", "X-Variant: good"); r.body != "variant=good" {
			t.Errorf("client with X-Variant: good: %v", r)
		}
		if r := e.get("/varies", "X-Variant: evil"); !r.hit() || r.body != "variant=evil" {
			t.Errorf("the evil variant is its own entry: %v", r)
		}
	})
	t.Run("partial_answer_never_answers_full_requests", func(t *testing.T) {
		// rule: a 206 to a Range request is neither stored nor used for a
		// request without Range.
		e.get("/ranged", "Range: bytes=0-3")
		if r := e.get("/ranged"); r.status != http.StatusOK || r.body != "whole answer" {
			t.Errorf("full request after a Range request: %v", r)
		}
	})
}
