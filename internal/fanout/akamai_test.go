package fanout

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	akClientToken  = "akab-client-SECRET-ct"
	akAccessToken  = "akab-access-SECRET-at"
	akClientSecret = "SECRET-client-secret="
)

var (
	akamaiPath = regexp.MustCompile(`^/ccu/v3/(invalidate|delete)/(url|tag)/(production|staging)$`)
	akamaiAuth = regexp.MustCompile(`^EG1-HMAC-SHA256 client_token=([^;]*);access_token=([^;]*);timestamp=([^;]*);nonce=([^;]*);signature=(.*)$`)
)

// akamaiAPI is a contract server for Fast Purge v3: it verifies every EdgeGrid signature
// with the client secret it knows (401 when wrong), refuses bodies over 50,000 bytes (413)
// and answers 201 as Akamai does. throttle answers the first request 429 (with Retry-After
// if given).
func akamaiAPI(t *testing.T, throttle bool, retryAfter string) *contract {
	creds := edgeGrid{clientToken: akClientToken, accessToken: akAccessToken, clientSecret: akClientSecret}
	return newContract(t, func(w http.ResponseWriter, c captured, n int) {
		problem := func(status int, title string) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			json.NewEncoder(w).Encode(map[string]any{"httpStatus": status, "title": title, "supportId": "17PY1"})
		}
		if c.Method != http.MethodPost || !akamaiPath.MatchString(c.Path) {
			t.Errorf("akamai: %s %s, want POST /ccu/v3/{action}/{url|tag}/{network}", c.Method, c.URI)
			problem(404, "Not found")
			return
		}
		m := akamaiAuth.FindStringSubmatch(c.Header.Get("Authorization"))
		if m == nil || m[1] != akClientToken || m[2] != akAccessToken {
			t.Errorf("akamai: Authorization is not an EdgeGrid header with the client's tokens")
			problem(401, "Not authorized")
			return
		}
		ts, err := time.Parse(edgeGridTimeFormat, m[3])
		if err != nil || m[4] == "" {
			t.Errorf("akamai: timestamp %q or nonce %q invalid", m[3], m[4])
		}
		u := &url.URL{Scheme: "http", Host: c.Host, Path: c.Path}
		want := creds.authorization(c.Method, u, c.Body, ts, m[4])
		if c.Header.Get("Authorization") != want {
			problem(401, "The signature does not match")
			return
		}
		if c.Header.Get("Content-Type") != "application/json" {
			t.Errorf("akamai: Content-Type %q", c.Header.Get("Content-Type"))
		}
		if len(c.Body) > 50000 {
			problem(413, "Request entity too large")
			return
		}
		var body struct{ Objects []string }
		if err := json.Unmarshal(c.Body, &body); err != nil || len(body.Objects) == 0 {
			problem(400, "Bad request: want {\"objects\":[...]}")
			return
		}
		if throttle && n == 1 {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("X-Ratelimit-Remaining", "0")
			problem(429, "Rate Limit exceeded")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"httpStatus":201,"detail":"Request accepted","estimatedSeconds":5,"purgeId":"edcp-FHBYWxkD6i6WAJSRgBu5wA","supportId":"17PY1"}`))
	})
}

func akamaiTarget(api *contract) Target {
	return Target{Type: TypeAkamai, URL: api.URL, Akamai: Akamai{
		Host: "akab-xxxx.luna.akamaiapis.net", ClientToken: akClientToken, AccessToken: akAccessToken, ClientSecret: akClientSecret,
	}}
}

func TestAkamaiContract(t *testing.T) {
	t.Run("large_url_purge_split_by_size", func(t *testing.T) {
		noLeaks(t)
		api := akamaiAPI(t, false, "")
		urls := words("https://shop.example.com/"+strings.Repeat("x", 80)+"/", 2000) // ~220 KB of JSON
		f, _, logs := deliverAll(t, akamaiTarget(api), Purge{URLs: urls})
		got := api.requests()
		var sent []string
		for i, c := range got {
			if c.Path != "/ccu/v3/delete/url/production" {
				t.Errorf("path %s, want /ccu/v3/delete/url/production for a hard purge", c.Path)
			}
			if len(c.Body) > MaxAkamaiBody || len(c.Body) < MaxAkamaiBody-200 && i < len(got)-1 {
				t.Errorf("body of %d bytes: want full batches of at most %d", len(c.Body), MaxAkamaiBody)
			}
			var b struct{ Objects []string }
			json.Unmarshal(c.Body, &b)
			sent = append(sent, b.Objects...)
		}
		if len(got) != 5 || !slices.Equal(sent, urls) {
			t.Errorf("%d requests carrying %d URLs, want 5 carrying all 2000 in order", len(got), len(sent))
		}
		wantStats(t, f, 5, 0, 0, 0)
		noSecrets(t, logs, "SECRET")
	})

	t.Run("soft_hard_action_network", func(t *testing.T) {
		noLeaks(t)
		api := akamaiAPI(t, false, "")
		f, _, _ := deliverAll(t, akamaiTarget(api),
			Purge{Tags: []string{"a", "b"}, Soft: true}, Purge{Tags: []string{"c"}}, Purge{URLs: []string{"https://shop.example.com/x"}, Soft: true})
		staging := akamaiTarget(api)
		staging.Akamai.Network, staging.Akamai.Action = "staging", "delete"
		f2, _, _ := deliverAll(t, staging, Purge{Tags: []string{"d"}, Soft: true})
		var paths []string
		for _, c := range api.requests() {
			paths = append(paths, c.Path+" "+string(c.Body))
		}
		want := []string{
			`/ccu/v3/invalidate/tag/production {"objects":["a","b"]}`,
			`/ccu/v3/delete/tag/production {"objects":["c"]}`,
			`/ccu/v3/invalidate/url/production {"objects":["https://shop.example.com/x"]}`,
			`/ccu/v3/delete/tag/staging {"objects":["d"]}`,
		}
		if !slices.Equal(paths, want) {
			t.Errorf("requests\n got %q\nwant %q", paths, want)
		}
		wantStats(t, f, 3, 0, 0, 0)
		wantStats(t, f2, 1, 0, 0, 0)
	})

	t.Run("all_prefixes_routes_unsupported", func(t *testing.T) {
		noLeaks(t)
		api := akamaiAPI(t, false, "")
		f, _, logs := deliverAll(t, akamaiTarget(api), Purge{All: true}, Purge{Prefixes: []string{"/a/"}, Routes: []string{"GET /a"}, Tags: []string{"t"}})
		if got := api.requests(); len(got) != 1 || got[0].Path != "/ccu/v3/delete/tag/production" {
			t.Errorf("requests %+v, want only the tag purge", got)
		}
		wantStats(t, f, 1, 0, 0, 3)
		if n := strings.Count(logs.String(), "cannot express"); n != 3 {
			t.Errorf("%d unsupported warnings, want 3 (all, prefixes, routes):\n%s", n, logs)
		}
	})

	t.Run("429_retry_after_then_documented_5s", func(t *testing.T) {
		noLeaks(t)
		api := akamaiAPI(t, true, "2")
		f, s, _ := deliverAll(t, akamaiTarget(api), Purge{Tags: []string{"t"}})
		wantStats(t, f, 1, 1, 0, 0)
		api2 := akamaiAPI(t, true, "")
		f2, s2, _ := deliverAll(t, akamaiTarget(api2), Purge{Tags: []string{"t"}})
		wantStats(t, f2, 1, 1, 0, 0)
		if w, w2 := s.waits(), s2.waits(); !slices.Equal(w, []time.Duration{2 * time.Second}) || !slices.Equal(w2, []time.Duration{5 * time.Second}) {
			t.Errorf("waits %v and %v, want [2s] (Retry-After) and [5s] (Akamai's documented wait)", w, w2)
		}
	})

	t.Run("wrong_secret_401_not_retried", func(t *testing.T) {
		noLeaks(t)
		api := akamaiAPI(t, false, "")
		target := akamaiTarget(api)
		target.Akamai.ClientSecret = "SECRET-wrong="
		f, _, logs := deliverAll(t, target, Purge{Tags: []string{"t"}}, Purge{URLs: []string{"https://shop.example.com/"}})
		if n := len(api.requests()); n != 2 {
			t.Errorf("%d requests, want 2: one per purge, no retry of a 401", n)
		}
		wantStats(t, f, 0, 0, 2, 0)
		if !strings.Contains(logs.String(), "status=401") {
			t.Errorf("log lacks the 401:\n%s", logs)
		}
		noSecrets(t, logs, "SECRET")
	})
}

func TestAkamaiBatches(t *testing.T) {
	big := strings.Repeat("x", MaxAkamaiBody) // too large alone: a batch of its own
	got := akamaiBatches([]string{"a", big, "b", "c"})
	if len(got) != 3 || !slices.Equal(got[0], []string{"a"}) || !slices.Equal(got[2], []string{"b", "c"}) {
		t.Errorf("batches %d, want [a] [big] [b c]", len(got))
	}
	exact := words(strings.Repeat("y", 96), 600) // 100 bytes each, 102 encoded with a comma
	for _, b := range akamaiBatches(exact) {
		body, _ := jsonBody(map[string][]string{"objects": b})
		if len(body) > MaxAkamaiBody {
			t.Errorf("batch body %d bytes, over %d", len(body), MaxAkamaiBody)
		}
	}
}
