package fanout

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const fastlyToken = "fastly-SECRET-key"

// fastlyAPI is a contract server for Fastly's purge API. The first request is answered 429
// with Retry-After when throttle is set.
func fastlyAPI(t *testing.T, throttle bool) *contract {
	return newContract(t, func(w http.ResponseWriter, c captured, n int) {
		if c.Method != http.MethodPost {
			t.Errorf("fastly: method %s, want POST", c.Method)
		}
		if c.Header.Get("Fastly-Key") != fastlyToken {
			t.Errorf("fastly: Fastly-Key %q, want the token", c.Header.Get("Fastly-Key"))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if soft := c.Header.Get("Fastly-Soft-Purge"); soft != "" && soft != "1" {
			t.Errorf("fastly: Fastly-Soft-Purge %q, want 1", soft)
		}
		switch {
		case c.URI == "/service/svc-1/purge":
			keys := strings.Fields(c.Header.Get("Surrogate-Key"))
			if len(keys) == 0 || len(keys) > 256 {
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"msg":"too many keys","detail":"at most 256 surrogate keys per request"}`))
				return
			}
		case c.URI == "/service/svc-1/purge_all":
			if c.Header.Get("Fastly-Soft-Purge") != "" {
				t.Errorf("fastly: purge_all with Fastly-Soft-Purge")
			}
		case strings.HasPrefix(c.URI, "/purge/"):
		default:
			t.Errorf("fastly: unexpected %s %s", c.Method, c.URI)
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if throttle && n == 1 {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok","id":"108-1391560174-974124"}`))
	})
}

func fastlyTarget(api *contract) Target {
	return Target{Type: TypeFastly, URL: api.URL, Fastly: Fastly{ServiceID: "svc-1", APIToken: fastlyToken}}
}

func TestFastlyContract(t *testing.T) {
	t.Run("600_tags_in_three_requests_soft", func(t *testing.T) {
		noLeaks(t)
		api := fastlyAPI(t, true)
		f, s, logs := deliverAll(t, fastlyTarget(api), Purge{Tags: words("k", 600), Soft: true})
		got := api.requests()
		var sizes []int
		var keys []string
		for _, c := range got[1:] { // the first was throttled and retried
			k := strings.Fields(c.Header.Get("Surrogate-Key"))
			sizes, keys = append(sizes, len(k)), append(keys, k...)
			if c.Header.Get("Fastly-Soft-Purge") != "1" {
				t.Errorf("soft purge without Fastly-Soft-Purge: 1")
			}
		}
		if want := []int{256, 256, 88}; !slices.Equal(sizes, want) {
			t.Errorf("keys per request %v, want %v", sizes, want)
		}
		if !slices.Equal(keys, words("k", 600)) {
			t.Error("keys sent differ from the purge's, or not in order")
		}
		if w := s.waits(); !slices.Equal(w, []time.Duration{2 * time.Second}) {
			t.Errorf("waits %v, want [2s] from Retry-After", w)
		}
		wantStats(t, f, 3, 1, 0, 0)
		noSecrets(t, logs, fastlyToken)
	})

	t.Run("urls_hard_prefixes_routes_unsupported", func(t *testing.T) {
		noLeaks(t)
		api := fastlyAPI(t, false)
		f, _, logs := deliverAll(t, fastlyTarget(api), Purge{
			URLs:     []string{"https://shop.example.com/api/products/42?a=1&b=2", "http://www.example.com/"},
			Prefixes: []string{"/api/"}, Routes: []string{"GET /a"},
		})
		var uris []string
		for _, c := range api.requests() {
			uris = append(uris, c.URI)
			if c.Header.Get("Fastly-Soft-Purge") != "" {
				t.Errorf("hard purge sent Fastly-Soft-Purge")
			}
		}
		if want := []string{"/purge/shop.example.com/api/products/42?a=1&b=2", "/purge/www.example.com/"}; !slices.Equal(uris, want) {
			t.Errorf("requests %q, want %q", uris, want)
		}
		wantStats(t, f, 2, 0, 0, 2)
		for _, kind := range []string{"kind=prefixes", "kind=routes"} {
			if !strings.Contains(logs.String(), kind) {
				t.Errorf("log lacks the unsupported %s:\n%s", kind, logs)
			}
		}
	})

	t.Run("all_is_purge_all_never_soft", func(t *testing.T) {
		noLeaks(t)
		api := fastlyAPI(t, false)
		f, _, _ := deliverAll(t, fastlyTarget(api), Purge{All: true, Soft: true})
		if got := api.requests(); len(got) != 1 || got[0].URI != "/service/svc-1/purge_all" {
			t.Errorf("requests %+v, want one purge_all", got)
		}
		wantStats(t, f, 1, 0, 0, 0)
	})
}
