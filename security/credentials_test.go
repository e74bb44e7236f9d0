package security

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Class: credentials, tiers and scopes. The rules: credentials never enter a
// key (nor a log line, an admin answer or a response field); tier and user
// come only from verified sources, on every path, routed or not; a request
// with credentials is never served someone else's private or tier response;
// a forged, expired or unverifiable credential never gets a cached answer.

// identityOrigin verifies credentials itself (identityOf) and answers per
// caller: /deals by tier, everything else by full identity. A rejected caller
// gets 401. The Cache-Control depends on the path (see ccFor).
func identityOrigin(w http.ResponseWriter, r *http.Request, ex exchange) {
	id := identityOf(ex.Header)
	path, _, _ := strings.Cut(ex.RequestURI, "?")
	w.Header().Set("Cache-Control", ccFor(path))
	if id == "rejected" {
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprint(w, "unauthorized")
		return
	}
	if path == "/deals" {
		fmt.Fprintf(w, "%s for tier %s", path, tierOf(id))
		return
	}
	fmt.Fprintf(w, "%s for %s", path, id)
}

// ccFor is the origin's Cache-Control for a path: /shared/public,
// /shared/smaxage and /shared/mustrevalidate say the answer may be shared
// even if the request had credentials (RFC 9111 §3.5); everything else is
// a plain max-age=60.
func ccFor(path string) string {
	switch {
	case strings.HasPrefix(path, "/shared/public"):
		return "public, max-age=60"
	case strings.HasPrefix(path, "/shared/smaxage"):
		return "s-maxage=60"
	case strings.HasPrefix(path, "/shared/mustrevalidate"):
		return "max-age=60, must-revalidate"
	}
	return "max-age=60"
}

const credentialsYAML = authYAML + `routes:
  - match: GET /deals
    scope: tier
  - match: GET /me
    scope: user
  - match: GET /pub
  - match: GET /pubcred
    allow_credentials: true
`

// caller is one identity the suite plays.
type caller struct {
	name    string
	headers []string
	id      string // identityOf of the headers
}

func callers(t *testing.T) []caller {
	return []caller{
		{"anonymous", nil, "anonymous"},
		{"jwt_free_alice", []string{"Authorization: Bearer " + userToken(t, "free", "alice")}, "jwt:free/alice"},
		{"jwt_premium_bob", []string{"Authorization: Bearer " + userToken(t, "premium", "bob")}, "jwt:premium/bob"},
		{"jwt_premium_acme", []string{"Authorization: Bearer " + userToken(t, "premium", "acme")}, "jwt:premium/acme"},
		{"key_premium_acme", []string{"X-API-Key: " + premiumKey}, "key:premium/acme"},
		{"key_free_hobbyist", []string{"X-API-Key: " + freeKey}, "key:free/hobbyist"},
	}
}

// badCredentials are credentials moat must reject: each request carrying
// one is forwarded uncached and its answer never stored.
func badCredentials(t *testing.T) map[string][]string {
	future := time.Now().Add(time.Hour)
	return map[string][]string{
		"jwt_forged_signature": {"Authorization: Bearer " + token(t, "another-secret-another-secret-another!!", jwt.MapClaims{"tier": "premium", "sub": "bob"})},
		"jwt_expired":          {"Authorization: Bearer " + token(t, jwtSecret, jwt.MapClaims{"tier": "premium", "sub": "bob", "exp": time.Now().Add(-time.Hour).Unix()})},
		"jwt_not_yet_valid":    {"Authorization: Bearer " + token(t, jwtSecret, jwt.MapClaims{"tier": "premium", "sub": "bob", "nbf": future.Unix()})},
		"jwt_issued_in_future": {"Authorization: Bearer " + token(t, jwtSecret, jwt.MapClaims{"tier": "premium", "sub": "bob", "iat": future.Unix()})},
		"jwt_without_exp":      {"Authorization: Bearer " + token(t, jwtSecret, jwt.MapClaims{"tier": "premium", "sub": "bob", "exp": nil})},
		"jwt_alg_none":         {"Authorization: Bearer " + noneToken(t, "premium")},
		"jwt_unknown_tier":     {"Authorization: Bearer " + token(t, jwtSecret, jwt.MapClaims{"tier": "admin", "sub": "bob"})},
		"jwt_tier_wrong_case":  {"Authorization: Bearer " + token(t, jwtSecret, jwt.MapClaims{"tier": "Premium", "sub": "bob"})},
		"jwt_tier_not_string":  {"Authorization: Bearer " + token(t, jwtSecret, jwt.MapClaims{"tier": []string{"premium"}, "sub": "bob"})},
		"jwt_garbage":          {"Authorization: Bearer not.a.jwt"},
		"bearer_empty":         {"Authorization: Bearer "},
		"basic_scheme":         {"Authorization: Basic Ym9iOnB3"},
		"authorization_twice": {"Authorization: Bearer " + userToken(t, "premium", "bob"),
			"Authorization: Bearer " + userToken(t, "free", "alice")},
		"api_key_unknown":        {"X-API-Key: guessed-guessed-guessed-key"},
		"api_key_prefix":         {"X-API-Key: " + premiumKey[:len(premiumKey)-1]},
		"api_key_twice":          {"X-API-Key: " + premiumKey, "X-API-Key: " + freeKey},
		"trusted_tier_forged":    {"X-User-Tier: premium"},
		"trusted_subject_forged": {"X-User-Tier: premium", "X-User-Id: bob"},
		"conflicting_sources":    {"Authorization: Bearer " + userToken(t, "premium", "bob"), "X-API-Key: " + freeKey},
		"forwarded_for_spoof":    {"X-User-Tier: premium", "X-Forwarded-For: 10.0.0.7", "X-Real-IP: 10.0.0.7", "Forwarded: for=10.0.0.7"},
	}
}

func TestCredentialsTierIsolationConcurrent(t *testing.T) {
	// rule: tier-scoped entries are shared within a tier and never across
	// tiers, under concurrency; one origin request per tier.
	e := start(t, identityOrigin, credentialsYAML)
	cs := callers(t)
	var mu sync.Mutex
	var wrong []string
	parallel(180, func(i int) {
		c := cs[i%len(cs)]
		r := e.get("/deals", c.headers...)
		if want := "/deals for tier " + tierOf(c.id); r.body != want {
			mu.Lock()
			wrong = append(wrong, fmt.Sprintf("%s got %v, want %q", c.name, r, want))
			mu.Unlock()
		}
	})
	for _, w := range wrong {
		t.Error(w)
	}
	for _, tier := range []string{"anonymous", "free", "premium"} {
		n := e.origin.countWhere(func(ex exchange) bool { return tierOf(identityOf(ex.Header)) == tier })
		if n != 1 {
			t.Errorf("origin requests for tier %s: %d, want 1 (coalesced, then hits)", tier, n)
		}
	}
}

func TestCredentialsUserIsolationConcurrent(t *testing.T) {
	// rule: user-scoped entries are never shared between users, nor
	// between sources that name the same subject (the JWT subject "acme"
	// is not the API key subject "acme"); without a verified user the
	// request bypasses.
	e := start(t, identityOrigin, credentialsYAML)
	cs := callers(t)
	var mu sync.Mutex
	var wrong []string
	parallel(180, func(i int) {
		c := cs[i%len(cs)]
		r := e.get("/me", c.headers...)
		if want := "/me for " + c.id; r.body != want {
			mu.Lock()
			wrong = append(wrong, fmt.Sprintf("%s got %v, want %q", c.name, r, want))
			mu.Unlock()
		}
		if c.id == "anonymous" && r.hit() {
			mu.Lock()
			wrong = append(wrong, fmt.Sprintf("anonymous request on a user route was a HIT: %v", r))
			mu.Unlock()
		}
	})
	for _, w := range wrong {
		t.Error(w)
	}
	for _, c := range cs[1:] {
		n := e.origin.countWhere(func(ex exchange) bool { return identityOf(ex.Header) == c.id })
		if n != 1 {
			t.Errorf("origin requests for %s: %d, want 1", c.id, n)
		}
	}
}

func TestCredentialsRejectedNeverCached(t *testing.T) {
	e := start(t, identityOrigin, credentialsYAML)
	paths := []string{"/deals", "/me", "/pub", "/pubcred", "/unrouted"}
	premium := []string{"Authorization: Bearer " + userToken(t, "premium", "bob")}
	for _, p := range paths {
		e.get(p)
		e.get(p, premium...)
	}
	for name, hs := range badCredentials(t) {
		t.Run(name, func(t *testing.T) {
			// rule: a rejected credential never gets a cached answer (not
			// even the anonymous tier's or a public one, on any route or
			// none), and its own answer is never stored.
			for _, p := range paths {
				before := e.origin.count()
				r := e.get(p, hs...)
				if r.err != nil {
					t.Fatal(r.err)
				}
				if r.hit() || e.origin.count() != before+1 {
					t.Errorf("%s answered from the cache: %v", p, r)
				}
				if r.stored() {
					t.Errorf("%s: its answer was stored: %v", p, r)
				}
			}
		})
	}
	t.Run("entries_unpoisoned_after_attacks", func(t *testing.T) {
		// rule: nothing a rejected request caused is served to others.
		for _, p := range paths {
			if r := e.get(p); strings.Contains(r.body, "unauthorized") || strings.Contains(r.body, "premium") || strings.Contains(r.body, "admin") {
				t.Errorf("anonymous %s: %v", p, r)
			}
		}
		if r := e.get("/deals", premium...); r.body != "/deals for tier premium" || !r.hit() {
			t.Errorf("premium /deals: %v, want the premium entry", r)
		}
	})
}

func TestCredentialsRejectedNeverGetShareableEntries(t *testing.T) {
	// On an unrouted path the origin may mark an answer shareable with
	// credentialed requests (public, s-maxage, must-revalidate: RFC 9111
	// §3.5). That permission is for credentials that verify.
	e := start(t, identityOrigin, credentialsYAML)
	bad := badCredentials(t)
	for _, p := range []string{"/shared/public", "/shared/smaxage", "/shared/mustrevalidate"} {
		t.Run(strings.TrimPrefix(p, "/shared/"), func(t *testing.T) {
			// rule: forged, expired and unverifiable credentials never get
			// cached answers, not even ones the origin marked shareable.
			if w := e.get(p); !w.stored() {
				t.Fatalf("warm-up: %v", w)
			}
			var served []string
			for name, hs := range bad {
				before := e.origin.count()
				if r := e.get(p, hs...); r.hit() || e.origin.count() != before+1 {
					served = append(served, name)
				}
			}
			if len(served) > 0 {
				slices.Sort(served)
				t.Errorf("answered from the cache for %d rejected credentials: %v", len(served), served)
			}
		})
	}
}

func TestCredentialsUnroutedPaths(t *testing.T) {
	// On a path that matches no route, every configured credential counts
	// as Authorization (RFC 9111 §3.5): the answer is stored only if it is
	// public, s-maxage or must-revalidate, and a stored entry answers a
	// credentialed request only if it was one of those.
	e := start(t, identityOrigin, credentialsYAML)
	creds := map[string]string{
		"jwt":            "Authorization: Bearer " + userToken(t, "premium", "bob"),
		"api_key":        "X-API-Key: " + premiumKey,
		"api_key_lower":  "x-api-key: " + premiumKey,
		"basic":          "Authorization: Basic Ym9iOnB3",
		"trusted_header": "X-User-Tier: premium",
	}
	for name, h := range creds {
		t.Run(name+"_private_answer_not_served_to_anonymous", func(t *testing.T) {
			// rule: a credentialed request's max-age=60 answer is never
			// served to an anonymous client.
			p := "/free/a-" + name
			e.get(p, h)
			if r := e.get(p); r.body != p+" for anonymous" {
				t.Errorf("anonymous GET %s after a %s request: %v", p, name, r)
			}
		})
		t.Run(name+"_not_served_anonymous_entry", func(t *testing.T) {
			// rule: an entry stored for anyone that is not public,
			// s-maxage or must-revalidate never answers a credentialed
			// request.
			p := "/free/b-" + name
			if w := e.get(p); !w.stored() {
				t.Fatalf("warm-up: %v", w)
			}
			before := e.origin.count()
			r := e.get(p, h)
			if r.hit() || e.origin.count() != before+1 {
				t.Errorf("%s request answered from an anonymous max-age=60 entry: %v", name, r)
			}
		})
	}
}

func TestCredentialsOtherSources(t *testing.T) {
	t.Run("jwt_in_custom_header_counts_on_unrouted_paths", func(t *testing.T) {
		// rule: a JWT in its configured header is a credential like
		// Authorization: its max-age answer is never served to others.
		e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
			w.Header().Set("Cache-Control", "max-age=60")
			who := "anonymous"
			if c, ok := verify(ex.Header.Get("X-Token")); ok {
				who = fmt.Sprint(c["tier"])
			}
			fmt.Fprintf(w, "for %s", who)
		}, `auth:
  tiers: [anonymous, premium]
  jwt: {hs256_secret: "`+jwtSecret+`", header: X-Token}
`)
		e.get("/x", "X-Token: "+userToken(t, "premium", "bob"))
		if r := e.get("/x"); r.body != "for anonymous" {
			t.Errorf("anonymous after X-Token: %v", r)
		}
		e.get("/y")
		if r := e.get("/y", "X-Token: "+userToken(t, "premium", "bob")); r.hit() {
			t.Errorf("X-Token request served the anonymous entry: %v", r)
		}
		if r := e.get("/y", "X-Token: forged.forged.forged"); r.hit() {
			t.Errorf("forged X-Token served from the cache: %v", r)
		}
	})
	t.Run("trusted_header_from_trusted_peer", func(t *testing.T) {
		// rule: a tier header from a trusted peer is a credential: on a tier
		// route it selects the tier's entry; on unrouted paths its
		// answers are not served to anonymous clients.
		e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
			w.Header().Set("Cache-Control", "max-age=60")
			fmt.Fprintf(w, "for %s/%s", cmpOr(ex.Header.Get("X-User-Tier"), "anonymous"), ex.Header.Get("X-User-Id"))
		}, `auth:
  tiers: [anonymous, premium]
  trusted_header: {header: X-User-Tier, subject_header: X-User-Id, from: [127.0.0.0/8]}
routes:
  - match: GET /deals
    scope: tier
  - match: GET /me
    scope: user
`)
		if r := e.get("/deals", "X-User-Tier: premium"); r.body != "for premium/" {
			t.Fatalf("premium /deals: %v", r)
		}
		if r := e.get("/deals"); r.body != "for anonymous/" {
			t.Errorf("anonymous /deals: %v", r)
		}
		e.get("/me", "X-User-Tier: premium", "X-User-Id: u1")
		if r := e.get("/me", "X-User-Tier: premium", "X-User-Id: u2"); r.body != "for premium/u2" {
			t.Errorf("user u2 /me: %v", r)
		}
		if r := e.get("/me", "X-User-Id: u1"); strings.Contains(r.body, "u1") && r.hit() {
			t.Errorf("subject header without tier served u1's entry: %v", r)
		}
		e.get("/z", "X-User-Tier: premium")
		if r := e.get("/z"); r.body != "for anonymous/" {
			t.Errorf("anonymous after a trusted premium request on an unrouted path: %v", r)
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestCredentialsHopByHopNomination(t *testing.T) {
	// rule: the origin receives the credential the key was computed from;
	// "Connection: X-API-Key" (or Authorization) must not strip it after
	// the tier was taken from it, storing an anonymous answer under the
	// premium key.
	e := start(t, identityOrigin, credentialsYAML)
	cases := []struct {
		name, path string
		headers    []string
		want       string
	}{
		{"api_key_tier_route", "/deals", []string{"X-API-Key: " + premiumKey}, "/deals for tier premium"},
		{"authorization_tier_route", "/deals", []string{"Authorization: Bearer " + userToken(t, "premium", "bob")}, "/deals for tier premium"},
		{"authorization_user_route", "/me", []string{"Authorization: Bearer " + userToken(t, "free", "alice")}, "/me for jwt:free/alice"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name, _, _ := strings.Cut(c.headers[0], ":")
			e.get(c.path, append(c.headers, "Connection: "+name)...)
			if r := e.get(c.path, c.headers...); r.body != c.want {
				t.Errorf("clean request after a Connection: %s request: %v, want %q", name, r, c.want)
			}
			if r := e.get(c.path); strings.Contains(r.body, "premium") || strings.Contains(r.body, "alice") {
				t.Errorf("anonymous: %v", r)
			}
		})
	}
}

func TestCredentialsPublicRouteAllowCredentials(t *testing.T) {
	// rule: allow_credentials opens a public route's cache to credentialed
	// requests only under RFC 9111 §3.5: their answer is stored only if it
	// is public, s-maxage or must-revalidate.
	e := start(t, identityOrigin, credentialsYAML)
	e.get("/pubcred?a", "Authorization: Bearer "+userToken(t, "premium", "bob"))
	if r := e.get("/pubcred?a"); r.body != "/pubcred for anonymous" {
		t.Errorf("anonymous after a credentialed max-age=60 answer: %v", r)
	}
	e.get("/pubcred?b", "X-API-Key: "+premiumKey)
	if r := e.get("/pubcred?b"); r.body != "/pubcred for anonymous" {
		t.Errorf("anonymous after an API-key max-age=60 answer: %v", r)
	}
}

func TestCredentialsNeverInKeysLogsOrAnswers(t *testing.T) {
	// rule: credentials never enter a key, nor the access log, the admin
	// API or any response field.
	e := start(t, identityOrigin, credentialsYAML+"log:\n  level: debug\n  access: true\n")
	jwtTok := userToken(t, "premium", "subject-7c1e")
	secrets := []string{jwtTok, premiumKey, freeKey, jwtSecret, adminToken, "subject-7c1e"}
	reqs := [][]string{
		{"Authorization: Bearer " + jwtTok},
		{"X-API-Key: " + premiumKey},
		{"X-API-Key: " + freeKey},
	}
	var answers []string
	for _, p := range []string{"/deals", "/me", "/pub", "/pubcred", "/unrouted"} {
		for _, hs := range reqs {
			r := e.get(p, hs...)
			r2 := e.get(p, hs...)
			for _, x := range []res{r, r2} {
				for k, v := range x.header {
					answers = append(answers, k+": "+strings.Join(v, ","))
				}
			}
		}
	}
	var admin []string
	for _, p := range []string{"/deals", "/me", "/unrouted"} {
		for _, hs := range reqs {
			m := e.inspect(p, hs...)
			admin = append(admin, fmt.Sprint(m))
		}
	}
	for _, path := range []string{"/api/keys?limit=1000", "/api/stats", "/api/routes", "/metrics"} {
		_, body := e.adminDo("GET", path, "Bearer "+adminToken, "")
		admin = append(admin, body)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "/deals") {
		t.Fatalf("the access log recorded nothing; the check below would prove nothing:\n%s", tail(logs, 500))
	}
	for _, s := range secrets {
		short := s[:12] + "…"
		if strings.Contains(strings.Join(answers, "\n"), s) {
			t.Errorf("a response field carries the secret %s", short)
		}
		if strings.Contains(strings.Join(admin, "\n"), s) {
			t.Errorf("the admin API shows the secret %s", short)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the secret %s", short)
		}
	}
}
