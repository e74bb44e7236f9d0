package fanout

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const cfToken = "cf-SECRET-token"

// cloudflareAPI is a contract server for POST /client/v4/zones/{zone}/purge_cache as
// Cloudflare documents it. answer, if not nil, may replace the success answer of hit n
// (return false to keep it).
func cloudflareAPI(t *testing.T, answer func(w http.ResponseWriter, body map[string]any, n int) bool) *contract {
	fail := func(w http.ResponseWriter, status, code int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"success":false,"errors":[{"code":%d,"message":%q}],"messages":[],"result":null}`, code, msg)
	}
	return newContract(t, func(w http.ResponseWriter, c captured, n int) {
		switch {
		case c.Method != http.MethodPost || c.Path != "/client/v4/zones/zone-1/purge_cache":
			t.Errorf("cloudflare: %s %s, want POST /client/v4/zones/zone-1/purge_cache", c.Method, c.URI)
			fail(w, 404, 7003, "no route")
			return
		case c.Header.Get("Authorization") != "Bearer "+cfToken:
			t.Errorf("cloudflare: Authorization %q, want the Bearer token", c.Header.Get("Authorization"))
			fail(w, 403, 10000, "Authentication error")
			return
		case c.Header.Get("Content-Type") != "application/json":
			t.Errorf("cloudflare: Content-Type %q", c.Header.Get("Content-Type"))
		}
		var body map[string]any
		if err := json.Unmarshal(c.Body, &body); err != nil || len(body) != 1 {
			t.Errorf("cloudflare: body %s: want a JSON object with one kind", c.Body)
			fail(w, 400, 1012, "Request must contain one of purge_everything, files, tags, hosts or prefixes")
			return
		}
		for kind, v := range body {
			limit := 100
			switch kind {
			case "purge_everything":
				if v != true {
					t.Errorf("cloudflare: purge_everything %v", v)
				}
				continue
			case "files":
				limit = 30 // the limit Cloudflare has long documented for files
			case "tags", "hosts", "prefixes":
			default:
				t.Errorf("cloudflare: unknown field %q", kind)
			}
			items, _ := v.([]any)
			if len(items) == 0 || len(items) > limit {
				fail(w, 400, 1015, fmt.Sprintf("Too many %s: at most %d per request", kind, limit))
				return
			}
			for _, it := range items {
				s, _ := it.(string)
				if kind == "files" && !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") {
					t.Errorf("cloudflare: file %q is not an absolute URL", s)
				}
				if kind == "prefixes" && (strings.Contains(s, "://") || strings.HasPrefix(s, "/")) {
					t.Errorf("cloudflare: prefix %q: want host/path without scheme", s)
				}
			}
		}
		if answer != nil && answer(w, body, n) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		ok := `{"success":true,"errors":[],"messages":[],"result":{"id":"9a7806061c88ada191ed06f989cc3dac"}}`
		w.Write([]byte(ok))
	})
}

func cloudflareTarget(api *contract) Target {
	return Target{Type: TypeCloudflare, URL: api.URL + "/client/v4",
		Cloudflare: Cloudflare{ZoneID: "zone-1", APIToken: cfToken, Hosts: []string{"shop.example.com", "www.example.com"}}}
}

// kinds lists the kind and item count of each captured Cloudflare request.
func cfKinds(t *testing.T, got []captured) []string {
	var out []string
	for _, c := range got {
		var body map[string]any
		json.Unmarshal(c.Body, &body)
		for k, v := range body {
			items, _ := v.([]any)
			out = append(out, fmt.Sprintf("%s:%d", k, len(items)))
		}
	}
	return out
}

func TestCloudflareContract(t *testing.T) {
	t.Run("75_tags_in_three_requests", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, nil)
		f, _, logs := deliverAll(t, cloudflareTarget(api), Purge{Tags: words("product:", 75), Soft: true})
		got := api.requests()
		if k, want := cfKinds(t, got), []string{"tags:30", "tags:30", "tags:15"}; !slices.Equal(k, want) {
			t.Errorf("requests %v, want %v", k, want)
		}
		var sent []string
		for _, c := range got {
			var b struct{ Tags []string }
			json.Unmarshal(c.Body, &b)
			sent = append(sent, b.Tags...)
		}
		if !slices.Equal(sent, words("product:", 75)) {
			t.Errorf("tags sent %v, want every tag once, in order", sent)
		}
		wantStats(t, f, 3, 0, 0, 0)
		noSecrets(t, logs, cfToken)
	})

	t.Run("files_prefixes_and_unsupported_routes", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, nil)
		urls := words("https://shop.example.com/p/", 31)
		f, _, logs := deliverAll(t, cloudflareTarget(api),
			Purge{URLs: urls, Prefixes: []string{"/api/products/"}, Routes: []string{"GET /a"}},
			Purge{Routes: []string{"GET /b"}})
		got := api.requests()
		if k, want := cfKinds(t, got), []string{"files:30", "files:1", "prefixes:2"}; !slices.Equal(k, want) {
			t.Errorf("requests %v, want %v", k, want)
		}
		if want := `{"prefixes":["shop.example.com/api/products/","www.example.com/api/products/"]}`; len(got) == 3 && string(got[2].Body) != want {
			t.Errorf("prefix body %s, want %s", got[2].Body, want)
		}
		wantStats(t, f, 3, 0, 0, 2)
		if n := strings.Count(logs.String(), "cannot express"); n != 1 {
			t.Errorf("unsupported routes logged %d times, want once:\n%s", n, logs)
		}
	})

	t.Run("prefixes_without_hosts_unsupported", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, nil)
		target := cloudflareTarget(api)
		target.Cloudflare.Hosts = nil
		f, _, _ := deliverAll(t, target, Purge{Prefixes: []string{"/api/"}, Soft: true})
		if n := len(api.requests()); n != 0 {
			t.Errorf("%d requests, want none (never a purge of everything)", n)
		}
		wantStats(t, f, 0, 0, 0, 1)
	})

	t.Run("all_without_hosts_is_purge_everything", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, nil)
		target := cloudflareTarget(api)
		target.Cloudflare.Hosts = nil
		f, _, _ := deliverAll(t, target, Purge{All: true, Tags: []string{"x"}, Routes: []string{"GET /a"}})
		got := api.requests()
		if len(got) != 1 || string(got[0].Body) != `{"purge_everything":true}` {
			t.Errorf("requests %v, want one purge_everything", cfKinds(t, got))
		}
		wantStats(t, f, 1, 0, 0, 0)
	})

	t.Run("all_with_hosts_purges_those_hosts", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, nil)
		target := cloudflareTarget(api)
		f, _, _ := deliverAll(t, target, Purge{All: true})
		got := api.requests()
		want := `{"hosts":["` + strings.Join(target.Cloudflare.Hosts, `","`) + `"]}`
		if len(got) != 1 || string(got[0].Body) != want {
			t.Errorf("requests %v, want one %s (the zone's other sites keep their cache)", cfKinds(t, got), want)
		}
		wantStats(t, f, 1, 0, 0, 0)
	})

	t.Run("429_retry_after_honoured", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, func(w http.ResponseWriter, _ map[string]any, n int) bool {
			if n != 1 {
				return false
			}
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}]}`))
			return true
		})
		f, s, _ := deliverAll(t, cloudflareTarget(api), Purge{Tags: []string{"a"}})
		if w := s.waits(); !slices.Equal(w, []time.Duration{3 * time.Second}) {
			t.Errorf("waits %v, want [3s] from Retry-After", w)
		}
		wantStats(t, f, 1, 1, 0, 0)
	})

	t.Run("success_false_fails_and_next_batch_goes", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, func(w http.ResponseWriter, _ map[string]any, n int) bool {
			if n != 1 {
				return false
			}
			w.Write([]byte(`{"success":false,"errors":[{"code":1134,"message":"Purge by tag is not allowed on this zone"}],"messages":[],"result":null}`))
			return true
		})
		f, _, logs := deliverAll(t, cloudflareTarget(api), Purge{Tags: words("t", 40)})
		if n := len(api.requests()); n != 2 {
			t.Errorf("%d requests, want 2 (the failed batch is not retried; the next one goes)", n)
		}
		wantStats(t, f, 1, 0, 1, 0)
		if !strings.Contains(logs.String(), "not allowed on this zone") {
			t.Errorf("log lacks Cloudflare's error:\n%s", logs)
		}
	})

	t.Run("success_false_rate_limited_is_retried", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, func(w http.ResponseWriter, _ map[string]any, n int) bool {
			if n != 1 {
				return false
			}
			w.Write([]byte(`{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}]}`))
			return true
		})
		f, s, _ := deliverAll(t, cloudflareTarget(api), Purge{URLs: []string{"https://shop.example.com/a"}})
		wantStats(t, f, 1, 1, 0, 0)
		if w := s.waits(); !slices.Equal(w, []time.Duration{time.Millisecond}) {
			t.Errorf("waits %v, want the backoff's", w)
		}
	})

	t.Run("over_the_limit_refused_not_retried", func(t *testing.T) {
		noLeaks(t)
		api := cloudflareAPI(t, nil)
		target := cloudflareTarget(api)
		target.Cloudflare.BatchSize = 100 // more files than this zone's API takes
		f, _, _ := deliverAll(t, target, Purge{URLs: words("https://shop.example.com/", 31)})
		if n := len(api.requests()); n != 1 {
			t.Errorf("%d requests, want 1 (400 is not retried)", n)
		}
		wantStats(t, f, 0, 0, 1, 0)
	})
}
