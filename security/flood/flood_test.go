package flood

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scale is the size of a run: the short one by default, the long one with
// MOAT_FLOOD=full (make flood).
type scale struct {
	budget            int64 // cache.memory
	gets, posts, junk int   // requests of each flood
	timeout           time.Duration
}

func runScale() scale {
	if os.Getenv("MOAT_FLOOD") == "full" {
		return scale{budget: 256 << 20, gets: 480_000, posts: 400_000, junk: 120_000, timeout: 10 * time.Minute}
	}
	return scale{budget: 32 << 20, gets: 48_000, posts: 40_000, junk: 12_000, timeout: time.Minute}
}

const (
	workers  = 8  // concurrent keep-alive clients
	junkTags = 64 // tags on each answer of the tagged route, the most moat keeps
)

// TestFlood floods a moat subprocess and checks that its resident set stays
// within 1.5 × cache.memory + 32 MiB after each flood, and that a flood of
// tag-heavy junk does not keep tagged responses of other routes out.
//
// The unique-URL GETs fill the budget three times over with entries that
// are never asked for again (about 2.1 KiB accounted each: 1 KiB bodies,
// stored gzipped); the tagged junk does the same with entries of 64 tags
// (about 9 KiB each). The distinct-URL POSTs store nothing; each is an
// invalidation of its URL (RFC 9111 §4.4), which moat must remember without
// growing for ever.
func TestFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("floods a moat subprocess")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the resident set from /proc")
	}
	sc := runScale()
	bin := buildMoat(t)
	origin := newOrigin(t)
	config := fmt.Sprintf(`listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token: %s}
origin: {url: %s}
cache: {memory: %d, max_object_size: 1MiB}
log: {level: info, format: json}
routes:
  - match: GET /api/items/{id}
  - match: GET /api/tagged/{name}
  - match: GET /api/other/{id}
`, adminToken, origin.URL, sc.budget)
	limit := sc.budget*3/2 + 32<<20
	t.Logf("cache.memory %d MiB: the resident set must stay within %d MiB", sc.budget>>20, limit>>20)

	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers, DisableCompression: true},
		Timeout:   30 * time.Second,
	}
	t.Cleanup(client.CloseIdleConnections)
	get := func(base, path string) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept-Encoding", "gzip") // take the stored coding: no decoding per response
		return req
	}

	// Each flood gets a moat of its own, empty: W-TinyLFU keeps the entries
	// of an earlier flood against later ones of the same frequency, so a
	// second flood into a full cache would hardly store anything.
	floods := []struct {
		name  string
		n     int
		req   func(base string, i int) *http.Request
		after func(t *testing.T, p *moatProc)
	}{
		{name: "unique_url_gets", n: sc.gets, req: func(base string, i int) *http.Request {
			return get(base, "/api/items/"+strconv.Itoa(i))
		}},
		{name: "distinct_url_posts", n: sc.posts, req: func(base string, i int) *http.Request {
			req, _ := http.NewRequest(http.MethodPost, base+"/api/items/w"+strconv.Itoa(i), strings.NewReader(`{"n":1}`))
			req.Header.Set("Content-Type", "application/json")
			return req
		}, after: func(t *testing.T, p *moatProc) {
			// Nothing was stored, so nothing may stay: remembering each
			// written URL (about 570 bytes a write on the unbounded
			// invalidation memory moat once had) would show here long
			// before the resident-set bound.
			if live, _ := p.liveHeap(); live > 12 {
				t.Errorf("live heap %d MiB after %d writes that stored nothing, want at most 12 MiB", live, sc.posts)
			}
		}},
		{name: "tagged_junk_gets", n: sc.junk, req: func(base string, i int) *http.Request {
			return get(base, "/api/tagged/list?junk="+strconv.Itoa(i))
		}, after: func(t *testing.T, p *moatProc) {
			// A tagged answer of another route is still stored. W-TinyLFU
			// may turn a new entry away at its first fill while its
			// frequency ties the junk's, and the next fill wins; a full tag
			// index refused it every time.
			var statuses []string
			for range 3 {
				resp, err := client.Do(get(p.proxy, "/api/other/1"))
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				cs := resp.Header.Get("Cache-Status")
				statuses = append(statuses, cs)
				if strings.Contains(cs, "; hit") {
					return
				}
			}
			t.Errorf("GET /api/other/1 three times: Cache-Status %q, want a hit by the third", statuses)
		}},
	}
	for _, f := range floods {
		t.Run(f.name, func(t *testing.T) {
			p := startMoat(t, bin, config)
			for _, line := range p.log.lines("memory limit") {
				t.Logf("moat: %s", line)
			}
			ctx, cancel := context.WithTimeout(context.Background(), sc.timeout)
			defer cancel()
			s := p.sample()
			start := time.Now()
			sent, failed := flood(ctx, client, f.n, workers, func(i int) *http.Request { return f.req(p.proxy, i) })
			took := time.Since(start)
			peak := s.Stop()
			rss := p.settle(t, 30*time.Second)
			m := p.metrics(t)
			accounted := m[`moat_cache_bytes{tier="l1"}`]
			heap := m["go_memstats_heap_alloc_bytes"]
			t.Logf("%d requests in %v (%.0f/s), %d failed", sent, took.Round(time.Millisecond), float64(sent)/took.Seconds(), failed)
			t.Logf("resident set: peak %.1f MiB (%.2f × budget), settled %.1f MiB (%.2f × budget); bound %d MiB",
				mib(peak), float64(peak)/float64(sc.budget), mib(rss), float64(rss)/float64(sc.budget), limit>>20)
			live, goal := p.liveHeap()
			t.Logf("accounted %.1f MiB in %.0f entries, %.0f tag pairs; live heap at the last GC %d MiB (%.2f × accounted), goal %d MiB; heap now %.1f MiB; runtime limit %.1f MiB",
				mib(accounted), m[`moat_cache_entries{tier="l1"}`], m["moat_tag_index_pairs"],
				live, float64(live<<20)/accounted, goal, mib(heap), mib(m["go_gc_gomemlimit_bytes"]))
			if sent < int64(f.n) {
				t.Errorf("only %d of %d requests sent within %v", sent, f.n, sc.timeout)
			}
			if failed > sent/100 {
				t.Errorf("%d of %d requests failed", failed, sent)
			}
			if rss > limit {
				t.Errorf("resident set %.1f MiB after the flood, want at most %d MiB (1.5 × %d MiB + 32 MiB)", mib(rss), limit>>20, sc.budget>>20)
			}
			if peak > limit {
				t.Errorf("resident set peaked at %.1f MiB during the flood, want at most %d MiB", mib(peak), limit>>20)
			}
			if f.after != nil {
				f.after(t, p)
			}
		})
	}
}

func mib[T int64 | float64](n T) float64 { return float64(n) / (1 << 20) }

// newOrigin is the API behind moat: 1 KiB JSON documents that may be
// stored for 10 minutes; /api/tagged/ answers carry 64 tags that every
// answer shares (a list endpoint), /api/other/ answers two of their own;
// writes get 200.
func newOrigin(t *testing.T) *httptest.Server {
	t.Helper()
	bodies := make([][]byte, 32)
	for i := range bodies {
		raw := make([]byte, 512)
		_, _ = rand.Read(raw)
		bodies[i] = []byte(`{"data":"` + hex.EncodeToString(raw)[:1024-len(`{"data":""}`)] + `"}`)
	}
	tags := make([]string, junkTags)
	for i := range tags {
		tags[i] = fmt.Sprintf("list-%02d", i)
	}
	allTags := strings.Join(tags, " ")
	doc := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=600")
		_, _ = w.Write(bodies[len(r.URL.RawQuery+r.URL.Path)%len(bodies)])
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/items/{id}", doc)
	mux.HandleFunc("GET /api/tagged/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Surrogate-Key", allTags)
		doc(w, r)
	})
	mux.HandleFunc("GET /api/other/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Surrogate-Key", "other:"+r.PathValue("id")+" others")
		doc(w, r)
	})
	mux.HandleFunc("POST /api/items/{id}", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
