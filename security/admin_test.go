package security

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Class: the admin surface, and invalidation by clients. The rules: every
// admin action (purge, stats, keys, inspection, metrics) needs the bearer
// token in the Authorization field, nothing else (no query string, cookie or
// other scheme); health and readiness are open and say nothing; a bad purge
// request is a 400 that purges nothing; the admin API is not reachable
// through the gateway; and no client request evicts anything except a
// successful POST, PUT, PATCH or DELETE of the URL itself (RFC 9111 §4.4).

const adminYAML = `routes:
  - match: GET /product/{id}
    tags: ["product:{id}", products]
`

// warmProduct stores /product/1 and returns a check that it is still a HIT.
func warmProduct(t *testing.T, e *env) func(t *testing.T, context string) {
	t.Helper()
	if r := e.get("/product/1"); !r.stored() {
		t.Fatalf("warm-up: %v", r)
	}
	if r := e.get("/product/1"); !r.hit() {
		t.Fatalf("warm-up: %v", r)
	}
	return func(t *testing.T, context string) {
		t.Helper()
		if r := e.get("/product/1"); !r.hit() {
			t.Errorf("%s: /product/1 is no longer a HIT (%v): something was evicted", context, r)
		}
	}
}

func TestAdminEveryActionAuthenticated(t *testing.T) {
	e := start(t, nil, adminYAML)
	stillHit := warmProduct(t, e)
	purgesBefore := e.srv.Gateway().Stats().Purges.Load()
	basic := base64.StdEncoding.EncodeToString([]byte("admin:" + adminToken))
	auths := map[string]string{
		"missing":              "",
		"wrong_token":          "Bearer wrong-token-wrong-token-wrong",
		"token_prefix":         "Bearer " + adminToken[:len(adminToken)-1],
		"token_extended":       "Bearer " + adminToken + "x",
		"token_twice":          "Bearer " + adminToken + " " + adminToken,
		"no_scheme":            adminToken,
		"basic_scheme":         "Basic " + basic,
		"token_scheme":         "Token " + adminToken,
		"bearer_without_token": "Bearer",
		"double_space":         "Bearer  " + adminToken,
		"empty_bearer":         "Bearer ",
	}
	endpoints := []struct{ method, path, body string }{
		{"GET", "/api/stats", ""},
		{"GET", "/api/keys", ""},
		{"GET", "/api/routes", ""},
		{"GET", "/api/inspect?url=" + url.QueryEscape("http://example.test/product/1"), ""},
		{"GET", "/metrics", ""},
		{"POST", "/purge", `{"all": true}`},
		{"POST", "/purge", `{"tags": ["products"]}`},
		{"DELETE", "/purge", ""},
		{"PUT", "/api/stats", "{}"},
		{"GET", "/nope", ""},
		{"GET", "/api/", ""},
		{"GET", "//api/stats", ""},
		{"GET", "/api/stats/", ""},
		{"GET", "/API/STATS", ""},
		{"GET", "/%61pi/stats", ""},
		{"POST", "/healthz", ""},
	}
	for name, auth := range auths {
		for _, ep := range endpoints {
			t.Run(name+"_"+ep.method+ep.path, func(t *testing.T) {
				// rule: every admin endpoint but health and readiness
				// answers 401 without the exact bearer token, and does
				// nothing.
				code, body := e.adminDo(ep.method, ep.path, auth, ep.body)
				if code != http.StatusUnauthorized {
					t.Errorf("status %d (%.80q), want 401", code, body)
				}
			})
		}
	}
	for _, q := range []string{"token", "access_token", "bearer", "auth", "api_key"} {
		t.Run("token_in_query_"+q, func(t *testing.T) {
			// rule: the token is read from the Authorization field only;
			// in a URL it ends up in logs and browser history.
			code, _ := e.adminDo("POST", "/purge?"+q+"="+adminToken, "", `{"all": true}`)
			if code != http.StatusUnauthorized {
				t.Errorf("purge with ?%s=TOKEN: %d, want 401", q, code)
			}
			code, _ = e.adminDo("GET", "/api/stats?"+q+"="+adminToken, "", "")
			if code != http.StatusUnauthorized {
				t.Errorf("stats with ?%s=TOKEN: %d, want 401", q, code)
			}
		})
	}
	t.Run("token_in_other_fields", func(t *testing.T) {
		// rule: only Authorization carries the token.
		for _, h := range []string{"Cookie: token=" + adminToken, "X-Admin-Token: " + adminToken, "X-Auth-Token: " + adminToken, "Proxy-Authorization: Bearer " + adminToken} {
			name, value, _ := strings.Cut(h, ": ")
			r, _ := http.NewRequest("POST", "http://"+e.admin+"/purge", strings.NewReader(`{"all": true}`))
			r.Header.Set(name, value)
			resp, err := e.http.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("purge with %s: %d, want 401", name, resp.StatusCode)
			}
		}
	})
	t.Run("nothing_was_purged", func(t *testing.T) {
		// rule: no unauthenticated request purged anything.
		if got := e.srv.Gateway().Stats().Purges.Load(); got != purgesBefore {
			t.Errorf("purges %d → %d", purgesBefore, got)
		}
		stillHit(t, "after unauthenticated admin requests")
	})
	t.Run("probes_open_and_silent", func(t *testing.T) {
		// rule: /healthz and /readyz need no token and reveal nothing.
		for _, p := range []string{"/healthz", "/readyz"} {
			code, body := e.adminDo("GET", p, "", "")
			if code != http.StatusOK || strings.Contains(body, "product") || len(body) > 32 {
				t.Errorf("GET %s: %d %q", p, code, body)
			}
		}
	})
	t.Run("dashboard_page_holds_no_data", func(t *testing.T) {
		// rule: the dashboard page is served without a token, so it holds
		// no data: it fetches everything with the token.
		code, body := e.adminDo("GET", "/", "", "")
		if code == http.StatusOK && (strings.Contains(body, "/product/1") || strings.Contains(body, "products")) {
			t.Errorf("the open dashboard page shows cache data")
		}
	})
	t.Run("right_token_works", func(t *testing.T) {
		// control: the checks above fail for the right reason.
		if code, body := e.adminDo("GET", "/api/stats", "Bearer "+adminToken, ""); code != http.StatusOK {
			t.Errorf("stats with the token: %d %s", code, body)
		}
	})
}

func TestAdminPurgeRejectsBadInput(t *testing.T) {
	e := start(t, nil, adminYAML)
	stillHit := warmProduct(t, e)
	cases := map[string]string{
		"empty_body":           "",
		"empty_object":         "{}",
		"null":                 "null",
		"array":                `["products"]`,
		"not_json":             "tags=products",
		"names_nothing":        `{"tags": [], "urls": [], "prefixes": [], "routes": []}`,
		"all_false":            `{"all": false}`,
		"soft_alone":           `{"soft": true}`,
		"unknown_field":        `{"tagz": ["products"]}`,
		"wrong_type_all":       `{"all": "yes"}`,
		"wrong_type_tags":      `{"tags": "products"}`,
		"relative_url":         `{"urls": ["/product/1"]}`,
		"url_without_scheme":   `{"urls": ["example.test/product/1"]}`,
		"url_without_host":     `{"urls": ["http:///product/1"]}`,
		"prefix_without_slash": `{"prefixes": ["product/"]}`,
		"unknown_route":        `{"routes": ["GET /nowhere"]}`,
		"empty_tag":            `{"tags": [""]}`,
		"trailing_garbage":     `{"all": true} trailing`,
		"two_documents":        `{"tags": ["x"]} {"all": true}`,
		"bad_with_good":        `{"tags": ["products"], "urls": ["/relative"]}`,
		"oversized":            `{"tags": ["` + strings.Repeat("t", 2<<20) + `"]}`,
		"deeply_nested":        strings.Repeat("[", 100000) + strings.Repeat("]", 100000),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			// rule: a purge request that is not a valid purge is a 4xx with
			// a JSON error, and purges nothing.
			code, resp := e.purge(body)
			if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
				t.Errorf("status %d (%.100q), want 400", code, resp)
			}
			var m map[string]any
			if json.Unmarshal([]byte(resp), &m) != nil || m["error"] == nil {
				t.Errorf("answer %.100q is not a JSON error", resp)
			}
			stillHit(t, "after purge "+name)
		})
	}
	t.Run("purge_by_get", func(t *testing.T) {
		// rule: a purge is a POST; other methods purge nothing.
		for _, m := range []string{"GET", "PUT", "DELETE", "PATCH"} {
			if code, _ := e.adminDo(m, "/purge", "Bearer "+adminToken, `{"all": true}`); code < 400 || code >= 500 {
				t.Errorf("%s /purge: %d, want 4xx", m, code)
			}
		}
		stillHit(t, "after non-POST purges")
	})
	t.Run("valid_purge_works", func(t *testing.T) {
		// control: the cases above fail for the right reason.
		if code, body := e.purge(`{"tags": ["product:1"]}`); code != http.StatusOK {
			t.Fatalf("valid purge: %d %s", code, body)
		}
		if r := e.get("/product/1"); r.hit() {
			t.Errorf("after a valid purge: %v", r)
		}
	})
}

func TestAdminNotReachableThroughGateway(t *testing.T) {
	// rule: the admin API lives on its own listener; the same paths on the
	// gateway are ordinary requests for the origin, even with the token.
	e := start(t, nil, adminYAML)
	stillHit := warmProduct(t, e)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/purge", `{"all": true}`},
		{"GET", "/api/stats", ""},
		{"GET", "/api/keys", ""},
		{"GET", "/metrics", ""},
		{"GET", "/api/inspect?url=http://example.test/product/1", ""},
	} {
		t.Run(c.method+c.path, func(t *testing.T) {
			r := e.do(req{method: c.method, target: c.path, headers: []string{"Authorization: Bearer " + adminToken,
				fmt.Sprintf("Content-Length: %d", len(c.body))}, body: c.body})
			if strings.Contains(r.body, "moat_cache") || strings.Contains(r.body, "affected") || strings.Contains(r.body, "uptime_seconds") {
				t.Errorf("the gateway answered an admin request itself: %v", r)
			}
		})
	}
	stillHit(t, "after admin paths on the gateway")
}

func TestAdminClientInvalidation(t *testing.T) {
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		switch {
		case ex.Method != "GET" && ex.Method != "HEAD" && strings.HasPrefix(ex.RequestURI, "/deny"):
			w.WriteHeader(http.StatusForbidden)
			return
		case ex.Method != "GET" && ex.Method != "HEAD":
			if loc := ex.Header.Get("X-Test-Location"); loc != "" {
				w.Header().Set("Location", loc)
			}
			fmt.Fprint(w, "done")
			return
		}
		echo("public, max-age=600")(w, r, ex)
	}, adminYAML)
	stillHit := warmProduct(t, e)
	for _, m := range []string{"PURGE", "BAN", "REFRESH", "FASTLYPURGE", "PURGEALL", "XPURGE", "INVALIDATE", "FOO",
		"OPTIONS", "TRACE", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "LINK", "UNLINK",
		"post", "Put", "delete", "patch"} {
		t.Run("method_"+m, func(t *testing.T) {
			// rule: only a successful POST, PUT, PATCH or DELETE (method
			// names are case-sensitive) invalidates; PURGE, BAN and any
			// other method are forwarded and evict nothing.
			e.do(req{method: m, target: "/product/1"})
			stillHit(t, m+" /product/1")
		})
	}
	t.Run("request_fields_purge_nothing", func(t *testing.T) {
		// rule: X-Moat-Invalidate is the origin's response field; in a
		// client's request it (and tag fields) purge nothing.
		e.get("/other", "X-Moat-Invalidate: products product:1", "Surrogate-Key: products", "Cache-Tag: products", "Xkey: products")
		e.do(req{method: "POST", target: "/other", headers: []string{"X-Moat-Invalidate: products", "Content-Length: 0"}})
		stillHit(t, "request fields naming the tag")
	})
	t.Run("failed_write_evicts_nothing", func(t *testing.T) {
		// rule: an unsafe request the origin refuses (4xx) invalidates
		// nothing (RFC 9111 §4.4: non-error status only).
		if r := e.get("/deny"); !r.stored() {
			t.Fatalf("warm-up: %v", r)
		}
		e.do(req{method: "POST", target: "/deny", headers: []string{"Content-Length: 0"}})
		if r := e.get("/deny"); !r.hit() {
			t.Errorf("after a refused POST: %v, want the entry kept", r)
		}
	})
	t.Run("cross_origin_location_evicts_nothing", func(t *testing.T) {
		// rule: a write invalidates the Location of another origin never
		// (RFC 9111 §4.4: same origin only), so a client cannot evict
		// another host's entries through an origin that echoes Location.
		if r := e.do(req{target: "/page", host: "victim.test"}); !r.stored() {
			t.Fatalf("warm-up: %v", r)
		}
		e.do(req{method: "POST", target: "/form", host: "attacker.test",
			headers: []string{"Content-Length: 0", "X-Test-Location: http://victim.test/page"}})
		if r := e.do(req{target: "/page", host: "victim.test"}); !r.hit() {
			t.Errorf("victim.test/page after attacker.test's write: %v, want the entry kept", r)
		}
	})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		t.Run("write_"+m+"_evicts_its_url", func(t *testing.T) {
			// control: writes do invalidate, so the cases above are
			// meaningful.
			target := "/w/" + m
			if r := e.get(target); !r.stored() {
				t.Fatalf("warm-up: %v", r)
			}
			e.do(req{method: m, target: target, headers: []string{"Content-Length: 0"}})
			if r := e.get(target); r.hit() {
				t.Errorf("after %s: %v, want the entry evicted", m, r)
			}
		})
	}
}
