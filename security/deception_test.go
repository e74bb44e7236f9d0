package security

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"
)

// Class: web cache deception. The attacker lures a victim to a URL that
// looks cacheable to the cache ("/api/me/x.css", "/api/me;x.css") but that
// a lenient origin answers with the victim's private page; then fetches the
// same URL and reads the stored page. The rules: a request with credentials
// never stores its answer on a public route (and a user-scoped route keys by
// the verified user), and an answer the origin marks private, no-store or
// with Set-Cookie is never stored, whatever the route's TTL says.

// lenientOrigin resolves paths the way the most forgiving frameworks do
// (lenientPath): it decodes escapes, reads '\' as '/', drops ";params" from
// every segment (so "..;" is ".."), resolves dot segments, and serves
// /api/me for any path that starts with it ("/api/me/x.css",
// "/api/me.css"). The profile names the caller (bearer token or API key;
// else the cookie) and carries the Cache-Control that the X-Profile-CC
// request field asks for, none by default: a forgetful origin.
func lenientOrigin(w http.ResponseWriter, r *http.Request, ex exchange) {
	p := lenientPath(ex.RequestURI)
	if p == "/api/me" || strings.HasPrefix(p, "/api/me/") || strings.HasPrefix(p, "/api/me.") || p == "/api/me " {
		who := identityOf(ex.Header)
		if who == "anonymous" {
			who = "cookie " + ex.Header.Get("Cookie")
		}
		switch cc := ex.Header.Get("X-Profile-Cc"); cc {
		case "":
		case "set-cookie":
			w.Header().Set("Set-Cookie", "session=rotated-"+who+"; HttpOnly")
		default:
			w.Header().Set("Cache-Control", cc)
		}
		fmt.Fprintf(w, "profile of %s", who)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	fmt.Fprint(w, echoBody(ex))
}

const deceptionYAML = authYAML + `routes:
  - match: GET /api/me
    scope: user
  - match: GET /api/{rest...}
    ttl: 1h
    override_origin: true
  - match: GET /assets/{file...}
    ttl: 1h
    override_origin: true
`

var deceptionURLs = []string{
	"/api/me/x.css",
	"/api/me/x.css?cb=1",
	"/api/me;x.css",
	"/api/me%3Bx.css",
	"/api/me%2Fx.css",
	"/api/me%2fx.css",
	"/api/me.css",
	"/api/me/.css",
	"/api/me/",
	"/api/me%00.css",
	"/api/me%20",
	"/api/me/%2e%2e/me",
	"/api/x/..%2Fme",
	"/assets/%2e%2e/api/me",
	"/assets/..%2Fapi/me",
	"/assets/..;/api/me",
}

func TestDeceptionCredentialedVictims(t *testing.T) {
	e := start(t, lenientOrigin, deceptionYAML)
	victims := []struct {
		name, header, marker string
	}{
		{"jwt", "Authorization: Bearer " + userToken(t, "premium", "victim"), "jwt:premium/victim"},
		{"api_key", "X-API-Key: " + premiumKey, "key:premium/acme"},
	}
	for _, v := range victims {
		for _, d := range deceptionURLs {
			t.Run(v.name+d, func(t *testing.T) {
				// rule: a credentialed request's answer on a public route is
				// never stored, and a user route never serves another user.
				r := e.get(d, v.header)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if strings.Contains(r.body, v.marker) && r.stored() {
					t.Errorf("victim's private answer stored: %v", r)
				}
				for _, a := range []struct{ who, header string }{
					{"anonymous", ""},
					{"another_user", "Authorization: Bearer " + userToken(t, "premium", "mallory")},
					{"cookie_user", "Cookie: session=mallory"},
				} {
					var hs []string
					if a.header != "" {
						hs = append(hs, a.header)
					}
					if got := e.get(d, hs...); strings.Contains(got.body, v.marker) {
						t.Errorf("%s reads the victim's page at %s: %v", a.who, d, got)
					}
				}
			})
		}
	}
}

func TestDeceptionOriginMarksPrivate(t *testing.T) {
	e := start(t, lenientOrigin, deceptionYAML)
	for _, cc := range []string{"private", "private, max-age=600", "no-store", "no-cache, no-store, must-revalidate", "set-cookie"} {
		for _, d := range deceptionURLs {
			t.Run(strings.ReplaceAll(cc, " ", "")+d, func(t *testing.T) {
				// rule: a response marked private, no-store or carrying
				// Set-Cookie is never stored, even on a route that overrides
				// the origin's freshness (cookie sessions are invisible to
				// moat; the origin's marking is what protects them).
				if code, body := e.purge(`{"all": true}`); code != http.StatusOK {
					t.Fatalf("purge: %d %s", code, body)
				}
				r := e.get(d, "Cookie: session=victim", "X-Profile-Cc: "+cc)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if strings.Contains(r.body, "profile of") && r.stored() {
					t.Errorf("stored a %q answer: %v", cc, r)
				}
				if got := e.get(d, "Cookie: session=mallory"); strings.Contains(got.body, "victim") {
					t.Errorf("mallory reads the victim's %q page: %v", cc, got)
				}
				if got := e.get(d); strings.Contains(got.body, "victim") {
					t.Errorf("anonymous reads the victim's %q page: %v", cc, got)
				}
			})
		}
	}
}

func TestDeceptionPublicRouteBypassesCredentials(t *testing.T) {
	e := start(t, lenientOrigin, deceptionYAML)
	creds := map[string]string{
		"bearer_valid":   "Authorization: Bearer " + userToken(t, "free", "alice"),
		"bearer_forged":  "Authorization: Bearer " + token(t, "not-the-secret-not-the-secret-not-it!", map[string]any{"tier": "premium", "sub": "x"}),
		"basic":          "Authorization: Basic YWxpY2U6cHc=",
		"api_key_valid":  "X-API-Key: " + freeKey,
		"api_key_forged": "X-API-Key: guessed-key-guessed-key",
		"trusted_header": "X-User-Tier: premium",
	}
	for name, h := range creds {
		t.Run(name, func(t *testing.T) {
			// rule: on a public route without allow_credentials, a request
			// that carries any configured credential bypasses the cache:
			// it is neither answered from it nor stored.
			target := "/api/products?c=" + name
			if w := e.get(target); !w.stored() {
				t.Fatalf("warm-up: %v", w)
			}
			r := e.get(target, h)
			if r.hit() || !hasParam(r.cacheStatus(), "fwd=bypass") || r.stored() {
				t.Errorf("credentialed request on a public route: %v; want fwd=bypass, not stored", r)
			}
		})
	}
}

// lenientPath is the path a forgiving origin serves for a request URI.
func lenientPath(requestURI string) string {
	p, _, _ := strings.Cut(requestURI, "?")
	if u, err := url.PathUnescape(p); err == nil {
		p = u
	}
	p, _, _ = strings.Cut(p, "\x00")
	p = strings.ReplaceAll(p, "\\", "/")
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}
