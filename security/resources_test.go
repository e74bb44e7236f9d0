package security

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Class: resource floods (small, bounded ones; the large RSS flood is
// security/flood). Anything an outsider can make moat remember (entries,
// variants, tags, tracked keys, waiters, queued requests, a half-sent body)
// must be bounded, and hitting the bound must not take the feature away from
// everyone else. Cache-Status says "stored" only when the response really was.

// metric reads one sample of the admin /metrics page: the first line that
// starts with series (a name, with labels if any).
func (e *env) metric(series string) float64 {
	e.t.Helper()
	code, body := e.adminDo("GET", "/metrics", "Bearer "+adminToken, "")
	if code != http.StatusOK {
		e.t.Fatalf("/metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				e.t.Fatalf("metric %s: %q", series, line)
			}
			return v
		}
	}
	e.t.Fatalf("metric %s not found", series)
	return 0
}

func TestResourcesTagIndexJunk(t *testing.T) {
	// rule: junk parameters on an endpoint whose answers carry 64 tags
	// cannot fill the tag index for everyone: by default the index has no
	// cap of its own (its pairs are counted in cache.memory, see
	// security/flood for the budget-bound flood), so tagged responses of
	// other routes are still stored; with an explicit tags.max_index the
	// index stays within it, and Cache-Status says stored only for
	// responses that really were.
	for _, tc := range []struct {
		name     string
		maxIndex int
	}{{"default_no_cap", 0}, {"explicit_cap", 2000}} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
				w.Header().Set("Cache-Control", "public, max-age=600")
				if strings.HasPrefix(ex.RequestURI, "/junk") {
					i := n.Add(1)
					var tags []string
					for j := range 64 {
						tags = append(tags, fmt.Sprintf("junk-%d-%d", i, j))
					}
					w.Header().Set("Surrogate-Key", strings.Join(tags, " "))
				}
				fmt.Fprint(w, ex.RequestURI)
			}, fmt.Sprintf(`tags:
  max_index: %d
routes:
  - match: GET /junk
  - match: GET /product/{id}
    tags: ["product:{id}", products]
`, tc.maxIndex))
			var lies []string
			stored := 0
			for i := range 200 {
				target := fmt.Sprintf("/junk?j=%d", i)
				if r := e.get(target); r.stored() {
					stored++
					if again := e.get(target); !again.hit() {
						lies = append(lies, target)
					}
				}
			}
			if len(lies) > 0 {
				t.Errorf("%d junk responses said stored but were not (first: %s)", len(lies), lies[0])
			}
			products := 10
			if tc.maxIndex > 0 {
				if pairs := e.metric("moat_tag_index_pairs"); pairs > float64(tc.maxIndex) {
					t.Errorf("tag index holds %v pairs, over max_index %d", pairs, tc.maxIndex)
				}
				if stored*64 > tc.maxIndex {
					t.Errorf("%d junk responses said stored: more than max_index allows", stored)
				}
				return // the cap is full of junk: that is what an explicit cap does (docs/config.md)
			}
			if stored != 200 {
				t.Errorf("%d of 200 junk responses stored; without a cap the budget decides", stored)
			}
			for id := range products {
				target := fmt.Sprintf("/product/%d", id)
				first := e.get(target)
				if again := e.get(target); !again.hit() {
					t.Errorf("%s after the junk flood: first %v, then %v; want it stored", target, first, again)
				}
			}
			if code, body := e.purge(`{"tags": ["products"]}`); code != http.StatusOK || !strings.Contains(body, `"affected": 10`) {
				t.Errorf("tag purge after the flood: %d %s; want the 10 products", code, strings.Join(strings.Fields(body), " "))
			}
		})
	}
}

func TestResourcesMemoryBounded(t *testing.T) {
	// rule: distinct junk keys (query, variants, hosts) never grow the
	// cache past cache.memory.
	body := strings.Repeat("x", 4096)
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		if strings.HasPrefix(ex.RequestURI, "/variants") {
			w.Header().Set("Vary", "X-V")
		}
		fmt.Fprint(w, body)
	}, "cache:\n  memory: 1MiB\n  max_object_size: 64KiB\n")
	for i := range 600 {
		e.get(fmt.Sprintf("/junk?j=%d", i))
		e.get("/variants", fmt.Sprintf("X-V: %d", i))
		e.do(req{target: "/hosts", host: fmt.Sprintf("h%d.example.test", i)})
	}
	max := e.metric(`moat_cache_max_bytes{tier="l1"}`)
	eventually(t, "the cache back within its budget", func() bool {
		return e.metric(`moat_cache_bytes{tier="l1"}`) <= max
	})
}

func TestResourcesStoredOnlyWhenKept(t *testing.T) {
	// rule: an entry the memory tier will not keep (here: half the budget)
	// is not reported stored.
	const size = 8 << 20
	body := strings.Repeat("b", size)
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		w.Header().Set("Cache-Control", "public, max-age=600")
		io.WriteString(w, body)
	}, "cache:\n  memory: 16MiB\n  max_object_size: 12MiB\n")
	first := e.get("/large")
	if first.stored() {
		if again := e.get("/large"); !again.hit() {
			t.Errorf("Cache-Status said stored (%s) but the next request was %v", first.cacheStatus(), again)
		}
	}
}

func TestResourcesHotKeysBounded(t *testing.T) {
	// rule: the hot-key tracker holds at most hotkeys.capacity keys, however
	// many distinct URLs arrive.
	e := start(t, nil, "hotkeys:\n  capacity: 100\n  top: 100\n")
	for i := range 1000 {
		e.get(fmt.Sprintf("/k?%d", i))
	}
	if got := e.metric("moat_hotkeys_tracked"); got > 100 {
		t.Errorf("tracked keys: %v, want at most 100", got)
	}
	_, body := e.adminDo("GET", "/api/keys?limit=1000", "Bearer "+adminToken, "")
	if n := strings.Count(body, `"key":`); n > 100 {
		t.Errorf("/api/keys lists %d keys, want at most 100", n)
	}
}

func TestResourcesOriginQueueBounded(t *testing.T) {
	// rule: with origin.max_concurrency and origin.queue set, at most that
	// many requests are at the origin and that many wait; the rest are
	// answered 503 with Retry-After at once.
	const conc, queue, total = 2, 4, 20
	g := newGate()
	var inflight, peak atomic.Int64
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		now := inflight.Add(1)
		for {
			p := peak.Load()
			if now <= p || peak.CompareAndSwap(p, now) {
				break
			}
		}
		g.wait(r)
		inflight.Add(-1)
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "ok")
	}, "", withOrigin(fmt.Sprintf("max_concurrency: %d", conc), fmt.Sprintf("queue: %d", queue), "queue_timeout: 5s"))
	t.Cleanup(g.release)
	results := make([]res, total)
	done := make(chan struct{})
	go func() {
		defer close(done)
		parallel(total, func(i int) { results[i] = e.get(fmt.Sprintf("/slow/%d", i)) })
	}()
	eventually(t, "the excess requests shed", func() bool {
		return e.srv.Gateway().Stats().Shed.Load() >= total-conc-queue && inflight.Load() == conc
	})
	g.release()
	<-done
	if p := peak.Load(); p > conc {
		t.Errorf("peak origin concurrency %d, want at most %d", p, conc)
	}
	shed := 0
	for _, r := range results {
		if r.status == http.StatusServiceUnavailable {
			shed++
			if r.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After: %v", r)
			}
		}
	}
	if shed != total-conc-queue {
		t.Errorf("%d requests shed, want %d", shed, total-conc-queue)
	}
}

func TestResourcesSlowUpload(t *testing.T) {
	// rule: a request body that stalls longer than security.client_body_timeout
	// between two reads gets 408, and the origin request is released.
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "read %d bytes, err %v", len(ex.Body), ex.BodyErr)
	}, "security:\n  client_body_timeout: 300ms\n")
	for _, c := range []struct{ name, head, first string }{
		{"content_length", "POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 100\r\n\r\n", "a"},
		{"chunked", "POST /upload HTTP/1.1\r\nHost: example.test\r\nTransfer-Encoding: chunked\r\n\r\n", "1\r\na\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", e.proxy, ioTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// 300ms is the timeout; 4s is ample, and bounds the case if
			// moat waits for the default 30s instead.
			conn.SetDeadline(time.Now().Add(4 * time.Second))
			// One byte, then nothing: the next byte would come after a long
			// interval.
			io.WriteString(conn, c.head+c.first)
			r := readOne(conn, "POST")
			if r.err != nil || r.status != http.StatusRequestTimeout {
				t.Fatalf("stalled upload: %v, want 408", r)
			}
			eventually(t, "the origin request to end", func() bool {
				for _, ex := range e.origin.requests() {
					if ex.RequestURI == "/upload" && ex.BodyErr != nil {
						return true
					}
				}
				return false
			})
		})
	}
}

func TestResourcesConcurrentJunkStaysCorrect(t *testing.T) {
	// rule: under a concurrent flood of junk keys, every client still gets
	// the answer to its own request (no cross-talk between keys).
	e := start(t, nil, "cache:\n  memory: 1MiB\n  max_object_size: 64KiB\n")
	var mu sync.Mutex
	var wrong []string
	parallel(64, func(i int) {
		for j := range 20 {
			target := fmt.Sprintf("/flood/%d/%d?x=%d", i, j%5, j)
			r := e.get(target)
			if uri := originURI(r.body); uri != target {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("%s got the answer to %q", target, uri))
				mu.Unlock()
			}
		}
	})
	for _, w := range wrong {
		t.Error(w)
	}
}
