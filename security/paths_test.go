package security

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// Class: path and parameter confusion. The same resource can be spelled
// many ways (dot segments, escapes, case of hex digits, encoded slashes,
// backslashes, path parameters, Unicode); a cache that matches the route on
// one spelling, keys on another and forwards a third lets an attacker store
// one resource's answer under another's key. The rule: the route, the key
// and the origin request come from ONE normalized request, so whatever the
// origin receives, the key describes exactly that (a second request for it
// is a HIT of the same entry) and the route is the route of that.

// pathsYAML gives each route a distinct downstream Cache-Control, so a
// response says which route answered it.
const pathsYAML = `routes:
  - match: GET /static/{path...}
    ttl: 1h
    override_origin: true
    downstream: {max_age: 111s}
  - match: GET /account
    downstream: {max_age: 222s}
  - match: GET /q
    ttl: 60s
`

// routeCacheControl is the Cache-Control the client must see for a request
// whose canonical path is path.
func routeCacheControl(path string) string {
	switch {
	case strings.HasPrefix(path, "/static/"):
		return "max-age=111"
	case path == "/account":
		return "max-age=222"
	}
	return "public, max-age=60"
}

// originURI extracts the request URI the origin reported in an echo body.
func originURI(body string) string {
	f := strings.Fields(body)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

func TestPathConfusionOneNormalizedRequest(t *testing.T) {
	e := start(t, echo("public, max-age=60"), pathsYAML)
	cases := []struct {
		name, target string
		want         string // the canonical request URI; "" checks consistency only
	}{
		{"dot_dot_half_encoded", "/static/.%2e/account", "/account"},
		{"dot_dot_encoded", "/static/%2e%2e/account", "/account"},
		{"dot_dot_mixed_hex_case", "/static/%2E%2e/account", "/account"},
		{"dot_dot_both_halves_encoded_upper", "/static/.%2E/account", "/account"},
		{"dot_segments_plain", "/static/./a/../b", "/static/b"},
		{"single_dot_encoded", "/static/a/%2e/b", "/static/a/b"},
		{"dot_dot_above_root", "/static/%2E%2E/%2E%2E/%2E%2E/account", "/account"},
		{"dot_dot_at_end", "/static/x/%2e%2e", "/static/"},
		{"dot_at_end", "/static/x/.", "/static/x/"},
		{"route_root_dot_dot", "/static/%2e%2e", "/"},
		{"absolute_form_dot_dot", "http://example.test/static/.%2e/account", "/account"},
		{"encoded_slash_after_dots", "/static/..%2Faccount", ""},
		{"encoded_slash_lower_hex", "/static/..%2faccount", ""},
		{"encoded_dots_and_slash", "/static/%2e%2e%2faccount", ""},
		{"encoded_backslash", "/static/..%5Caccount", ""},
		{"raw_backslashes", `/static\..\account`, ""},
		{"raw_backslash_after_segment", `/static/..\account`, ""},
		{"path_parameter_then_dots", "/static/a;x=1/../b", "/static/b"},
		{"tomcat_dot_dot_semicolon", "/static/..;/account", ""},
		{"semicolon_path_parameter", "/static/a;jsessionid=x", "/static/a;jsessionid=x"},
		{"double_encoded_dots", "/static/%252e%252e/account", "/static/%252e%252e/account"},
		{"double_encoded_slash", "/static/a%252fb", "/static/a%252fb"},
		{"unreserved_escapes_decoded", "/static/%7euser/%61", "/static/~user/a"},
		{"reserved_escape_hex_upper", "/static/a%2fb", "/static/a%2Fb"},
		{"trailing_dot_in_segment", "/static/x.", "/static/x."},
		{"trailing_encoded_dots", "/static/x%2E%2E", "/static/x.."},
		{"overlong_utf8_dots", "/static/%C0%AE%C0%AE/account", "/static/%C0%AE%C0%AE/account"},
		{"iis_percent_u", "/static/%u002e%u002e/account", "/static/%u002e%u002e/account"},
		{"fullwidth_dots_encoded", "/static/%EF%BC%8E%EF%BC%8E/account", "/static/%EF%BC%8E%EF%BC%8E/account"},
		{"raw_utf8", "/static/é", "/static/%C3%A9"},
		{"utf8_lower_hex", "/static/%c3%a9", "/static/%C3%A9"},
		{"raw_fullwidth_letter", "/static/ａ", "/static/%EF%BD%81"},
		{"nul_escape", "/static/%00", "/static/%00"},
		{"double_slashes", "//static//x", ""},
		{"upper_case_route", "/STATIC/x", "/STATIC/x"},
		{"empty_query", "/static/x?", "/static/x"},
		{"fragment_in_target", "/static/x#frag", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rule: the route, the key and the origin request come from one
			// normalized request.
			before := e.origin.count()
			first := e.get(c.target)
			if first.err != nil {
				t.Fatal(first.err)
			}
			if first.status >= 400 && first.status < 500 {
				// Refusing an ambiguous spelling is allowed; forwarding
				// it while refusing is not.
				if e.origin.count() != before {
					t.Errorf("%d answer, but the origin was asked", first.status)
				}
				return
			}
			if first.status != http.StatusOK {
				t.Fatalf("first: %v", first)
			}
			got := originURI(first.body)
			if c.want != "" && got != c.want {
				t.Errorf("origin received %q, want %q", got, c.want)
			}
			path, _, _ := strings.Cut(got, "?")
			if cc := first.header.Get("Cache-Control"); cc != routeCacheControl(path) {
				t.Errorf("Cache-Control %q: the route was not the route of %q (want %q)", cc, got, routeCacheControl(path))
			}
			second := e.get(got)
			if !second.hit() || second.body != first.body {
				t.Errorf("request for what the origin received (%s): %v; want a HIT of the same entry, i.e. the key describes exactly %q", got, second, got)
			}
		})
	}
}

func TestPathConfusionQueryReachesOriginExactly(t *testing.T) {
	e := start(t, echo("public, max-age=60"), pathsYAML)
	cases := []struct {
		name, query, want string // want "" checks consistency only
	}{
		{"semicolon_kept", "a=1;b=2", "a=1;b=2"},
		{"malformed_escape_kept", "q=%zz", "q=%zz"},
		{"malformed_escapes_upper_and_stray", "q=%ZZ&r=%", "q=%ZZ&r=%"},
		{"stray_percent_before_hex_escape", "q=%%341", ""},
		{"sorted", "b=2&a=1", "a=1&b=2"},
		{"repeated_values_sorted", "id=3&id=1", "id=1&id=3"},
		{"names_case_sensitive", "a=1&A=2", "A=2&a=1"},
		{"plus_is_space", "q=a+b", "q=a%20b"},
		{"encoded_plus_kept", "q=a%2Bb", "q=a%2Bb"},
		{"empty_parameters_dropped", "x=1&&", "x=1"},
		{"unreserved_escape_in_name", "%61=1", "a=1"},
		{"flag_and_empty_value_distinct", "flag&flag=", "flag&flag="},
		{"raw_angle_brackets", "q=<x>", ""},
		{"encoded_ampersand_in_value", "q=a%26b=c", "q=a%26b=c"},
		{"encoded_hash", "q=%23x", "q=%23x"},
		{"question_mark_in_query", "q=a?b", "q=a?b"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rule: the origin receives exactly the query of the key:
			// preserved, not re-encoded or dropped.
			first := e.get("/q?" + c.query)
			if first.err != nil || first.status != http.StatusOK {
				if first.status >= 400 && first.status < 500 {
					return
				}
				t.Fatalf("first: %v", first)
			}
			got := originURI(first.body)
			_, q, _ := strings.Cut(got, "?")
			if c.want != "" && q != c.want {
				t.Errorf("origin query %q, want %q", q, c.want)
			}
			if second := e.get(got); !second.hit() || second.body != first.body {
				t.Errorf("request for what the origin received (%s): %v; want a HIT of the same entry", got, second)
			}
		})
	}
	// A request line of 20,000 parameters is larger than the default
	// security.max_header_bytes; this moat allows the maximum.
	big := start(t, echo("public, max-age=60"), pathsYAML+"security:\n  max_header_bytes: 1MiB\n")
	for _, n := range []int{10_001, 20_000} {
		t.Run(fmt.Sprintf("%d_parameters_all_forwarded", n), func(t *testing.T) {
			// rule: parameters are never dropped (Go's url.ParseQuery
			// stops at 10,000; the key and the origin must not).
			e := big
			var b strings.Builder
			for i := range n {
				if i > 0 {
					b.WriteByte('&')
				}
				fmt.Fprintf(&b, "p%05d=%d", i, i%10)
			}
			first := e.get("/q?" + b.String())
			if first.err != nil || first.status != http.StatusOK {
				t.Fatalf("%d parameters (%d bytes) within max_header_bytes: %v", n, b.Len(), first)
			}
			_, q, _ := strings.Cut(e.origin.last().RequestURI, "?")
			if q != b.String() {
				t.Errorf("origin received %d parameters (%d bytes), want all %d unchanged", strings.Count(q, "&")+1, len(q), n)
			}
			if second := e.get("/q?" + b.String()); !second.hit() {
				t.Errorf("repeat: %v, want a HIT", second)
			}
		})
	}
}

// secretOrigin answers /account, /api/me and /api/private with the caller's
// private data and no Cache-Control at all (the origin forgot): the cookie
// names the caller of /account, the bearer token the caller of /api/*.
// Everything else is public.
func secretOrigin(w http.ResponseWriter, r *http.Request, ex exchange) {
	path, _, _ := strings.Cut(ex.RequestURI, "?")
	switch path {
	case "/account":
		fmt.Fprintf(w, "secret account page of %q", ex.Header.Get("Cookie"))
	case "/api/me", "/api/private":
		fmt.Fprintf(w, "secret profile of %s", identityOf(ex.Header))
	default:
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprint(w, echoBody(ex))
	}
}

func TestPathConfusionNeverStoresPrivatePagesAsStatic(t *testing.T) {
	e := start(t, secretOrigin, authYAML+`routes:
  - match: GET /static/{path...}
    ttl: 1h
    override_origin: true
  - match: GET /api/me
    scope: user
  - match: GET /api/private
    cache: false
`)
	victimJWT := "Authorization: Bearer " + userToken(t, "premium", "victim")
	victims := map[string][]string{
		"cookie_only":    {"Cookie: session=victim"},
		"jwt_and_cookie": {victimJWT, "Cookie: session=victim"},
	}
	spellings := []string{
		"/static/.%2e/account",
		"/static/%2e%2e/account",
		"/static/%2E%2E/account",
		"/static/./%2e%2e/account",
		"/static/%2e%2e/api/me",
		"/static/.%2e/api/me",
		"/static/%2e%2e/%2e%2e/api/me",
		"/static/%2E%2E/api/private",
		"/static/..%2fapi/me",
		"/static/..%2Faccount",
		"/static/%2e%2e%5Caccount",
		"/static/..;/account",
	}
	for vname, creds := range victims {
		for _, s := range spellings {
			t.Run(vname+s, func(t *testing.T) {
				// rule: a private page reached through a static-looking
				// spelling is never stored under a public key: the route
				// is that of the page, not of /static/.
				if code, body := e.purge(`{"all": true}`); code != http.StatusOK {
					t.Fatalf("purge between cases: %d %s", code, body)
				}
				v := e.get(s, creds...)
				if v.err != nil {
					t.Fatal(v.err)
				}
				canonical := e.origin.last().RequestURI
				for _, target := range []string{s, canonical, "/account", "/api/me", "/api/private"} {
					a := e.get(target)
					if strings.Contains(a.body, "victim") {
						t.Errorf("anonymous GET %s after the victim's GET %s: %v", target, s, a)
					}
					m := e.get(target, "Authorization: Bearer "+userToken(t, "premium", "mallory"))
					if strings.Contains(m.body, "victim") {
						t.Errorf("mallory's GET %s after the victim's GET %s: %v", target, s, m)
					}
				}
			})
		}
	}
}

func TestPathConfusionOriginSideResolution(t *testing.T) {
	// An origin that resolves more than RFC 3986 does (Tomcat drops ";"
	// parameters, so "..;" is ".."; IIS reads '\' as '/'; some decode "%2F"
	// before routing) turns a static-looking path into /account. moat
	// cannot know which origin it fronts, so such paths are ambiguous.
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		if lenientPath(ex.RequestURI) == "/account" {
			fmt.Fprintf(w, "secret account page of %q", ex.Header.Get("Cookie"))
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fmt.Fprint(w, echoBody(ex))
	}, `routes:
  - match: GET /static/{path...}
    ttl: 1h
    override_origin: true
`)
	for _, s := range []string{
		"/static/..;/account",
		"/static/..;x=1/account",
		"/static/.;/../account",
		"/static/x/..;/..;/account",
		"/static/..%2Faccount",
		"/static/%2e%2e%2Faccount",
		"/static/..%5Caccount",
		`/static\..\account`,
		`/static/..\account`,
	} {
		t.Run(s, func(t *testing.T) {
			// rule: a path whose dot segments origins resolve differently
			// is refused (4xx) or at least never stored under a public key.
			if code, body := e.purge(`{"all": true}`); code != http.StatusOK {
				t.Fatalf("purge: %d %s", code, body)
			}
			v := e.get(s, "Cookie: session=victim")
			if v.err != nil {
				t.Fatal(v.err)
			}
			if strings.Contains(v.body, "victim") && v.stored() {
				t.Errorf("the victim's page was stored under %s: %v", s, v)
			}
			if a := e.get(s); strings.Contains(a.body, "victim") {
				t.Errorf("anonymous reads the victim's page at %s: %v", s, a)
			}
		})
	}
}
