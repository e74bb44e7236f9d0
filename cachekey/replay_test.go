package cachekey

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// The replay: a generated request log for a product API, keyed with and
// without normalization, to measure how much of the hit ratio that is lost
// to spelling normalization wins back.

const (
	replayRequests  = 50_000
	replayResources = 2_000
	replayHost      = "api.example.com"
)

// replayParams are the route rules of the replayed API.
var replayParams = Params{Defaults: map[string]string{"page": "1", "sort": "relevance"}}

// logicalResource is one thing a client can ask for: a path and the
// parameters that change the answer, defaults left out.
type logicalResource struct {
	path   string
	params [][2]string
}

type replayRequest struct {
	resource int // index of the logical resource: the ideal key
	url      *url.URL
}

// replayLog generates n requests over a Zipf(1.1) popularity of resources:
// parameters in random order, 30% carrying tracking parameters (campaign
// tags from a small set, click ids unique per click), 10% spelling out
// default values, and spaces in search terms written '+' or "%20" at random.
func replayLog(n int) []replayRequest {
	rng := rand.New(rand.NewPCG(4, 2026))
	resources := replayResourceSet(rng, replayResources)
	zipf := rand.NewZipf(rng, 1.1, 1, uint64(len(resources)-1))
	sources := []string{"newsletter", "twitter", "google", "partner"}
	campaigns := []string{"spring_sale", "launch", "retarget"}
	log := make([]replayRequest, n)
	for i := range log {
		id := int(zipf.Uint64())
		res := resources[id]
		params := append([][2]string(nil), res.params...)
		// Listings and searches take page and sort; product pages take no
		// parameters. 17% of listings and searches is about 10% of all
		// requests (TestReplayReachesIdeal logs the figure).
		if !strings.HasPrefix(res.path, "/api/products/") && rng.IntN(100) < 17 {
			params = addMissing(params, "page", "1")
			params = addMissing(params, "sort", "relevance")
		}
		if rng.IntN(10) < 3 {
			params = append(params, [2]string{"utm_source", sources[rng.IntN(len(sources))]},
				[2]string{"utm_campaign", campaigns[rng.IntN(len(campaigns))]})
			switch rng.IntN(3) {
			case 0:
				params = append(params, [2]string{"fbclid", fmt.Sprintf("IwAR%016x", rng.Uint64())})
			case 1:
				params = append(params, [2]string{"gclid", fmt.Sprintf("Cj0K%016x", rng.Uint64())})
			}
		}
		rng.Shuffle(len(params), func(a, b int) { params[a], params[b] = params[b], params[a] })
		var q strings.Builder
		for j, p := range params {
			if j > 0 {
				q.WriteByte('&')
			}
			space := "+"
			if rng.IntN(2) == 0 {
				space = "%20"
			}
			q.WriteString(p[0] + "=" + strings.ReplaceAll(p[1], " ", space))
		}
		target := res.path
		if q.Len() > 0 {
			target += "?" + q.String()
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			panic(err)
		}
		log[i] = replayRequest{resource: id, url: u}
	}
	return log
}

// replayResourceSet makes n distinct logical resources: product pages,
// category listings (page 1..5, three sort orders, relevance the default)
// and searches.
func replayResourceSet(rng *rand.Rand, n int) []logicalResource {
	terms := []string{"running shoes", "red dress", "usb c cable", "coffee", "desk lamp", "rain jacket", "lego", "headphones"}
	sorts := []string{"relevance", "price", "rating"}
	seen := make(map[string]bool)
	var out []logicalResource
	for len(out) < n {
		var r logicalResource
		switch rng.IntN(3) {
		case 0:
			r.path = fmt.Sprintf("/api/products/%d", rng.IntN(5000))
		case 1:
			r.path = "/api/products"
			r.params = append(r.params, [2]string{"category", fmt.Sprintf("c%d", rng.IntN(40))})
			if page := 1 + rng.IntN(5); page > 1 {
				r.params = append(r.params, [2]string{"page", fmt.Sprint(page)})
			}
			if sort := sorts[rng.IntN(len(sorts))]; sort != "relevance" {
				r.params = append(r.params, [2]string{"sort", sort})
			}
		default:
			r.path = "/api/search"
			r.params = append(r.params, [2]string{"q", terms[rng.IntN(len(terms))] + fmt.Sprintf(" %d", rng.IntN(60))})
		}
		id := fmt.Sprint(r)
		if !seen[id] {
			seen[id] = true
			out = append(out, r)
		}
	}
	return out
}

func addMissing(params [][2]string, name, value string) [][2]string {
	for _, p := range params {
		if p[0] == name {
			return params
		}
	}
	return append(params, [2]string{name, value})
}

// replayHitRatio replays log through a cache that never evicts (a set of
// keys seen), so the ratio measures key quality alone.
func replayHitRatio(log []replayRequest, key func(replayRequest) string) float64 {
	seen := make(map[string]struct{}, len(log))
	hits := 0
	for _, r := range log {
		k := key(r)
		if _, ok := seen[k]; ok {
			hits++
		}
		seen[k] = struct{}{}
	}
	return float64(hits) / float64(len(log))
}

func rawKey(r replayRequest) string {
	return Key("GET", "http", replayHost, r.url.EscapedPath(), r.url.RawQuery)
}

func normalizedKeyFunc(t testing.TB) func(replayRequest) string {
	n, err := NewNormalizer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := n.CompileParams(replayParams)
	if err != nil {
		t.Fatal(err)
	}
	return func(r replayRequest) string {
		path, query, _ := n.Normalize(r.url, rules)
		return Key("GET", "http", replayHost, path, query)
	}
}

func idealKey(r replayRequest) string { return fmt.Sprint(r.resource) }

// TestReplayReachesIdeal checks that normalization merges every spelling
// of a resource and nothing else: its hit ratio is exactly that of keying
// by the logical resource.
func TestReplayReachesIdeal(t *testing.T) {
	log := replayLog(replayRequests)
	raw := replayHitRatio(log, rawKey)
	normalized := replayHitRatio(log, normalizedKeyFunc(t))
	ideal := replayHitRatio(log, idealKey)
	if normalized != ideal {
		t.Errorf("normalized hit ratio %.4f, want the ideal %.4f", normalized, ideal)
	}
	if raw >= normalized {
		t.Errorf("raw hit ratio %.4f, want less than normalized %.4f", raw, normalized)
	}
	t.Logf("hit ratio: raw %.4f, normalized %.4f, ideal %.4f", raw, normalized, ideal)

	var tracking, defaults, distinct int
	resources := make(map[int]bool)
	for _, r := range log {
		if strings.Contains(r.url.RawQuery, "utm_") {
			tracking++
		}
		if strings.Contains(r.url.RawQuery, "page=1") || strings.Contains(r.url.RawQuery, "sort=relevance") {
			defaults++
		}
		if !resources[r.resource] {
			resources[r.resource] = true
			distinct++
		}
	}
	t.Logf("%d requests, %d distinct resources, %.1f%% with tracking, %.1f%% with defaults spelled out",
		len(log), distinct, 100*float64(tracking)/float64(len(log)), 100*float64(defaults)/float64(len(log)))
}

// BenchmarkReplay times normalizing and keying every request of the log,
// and reports the hit ratio with and without normalization, and the ideal
// (keying by logical resource).
func BenchmarkReplay(b *testing.B) {
	log := replayLog(replayRequests)
	key := normalizedKeyFunc(b)
	raw := replayHitRatio(log, rawKey)
	normalized := replayHitRatio(log, key)
	ideal := replayHitRatio(log, idealKey)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range log {
			key(r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(log)), "ns/request")
	b.ReportMetric(raw, "hit-ratio-raw")
	b.ReportMetric(normalized, "hit-ratio-normalized")
	b.ReportMetric(ideal, "hit-ratio-ideal")
}
