package fleettest

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/redistest"
)

// TestStampedeCostsOneOriginRequest: 300 concurrent GETs of one cold key,
// spread round-robin over three nodes, while the origin takes 200ms to
// answer: node-local coalescing and the fleet lease let one request through
// to the origin, and every client gets the same 200.
func TestStampedeCostsOneOriginRequest(t *testing.T) {
	const (
		path    = "/items/stampede"
		clients = 300
		slow    = 200 * time.Millisecond
	)
	o := newOrigin(t, func(*http.Request, int) { time.Sleep(slow) }) // a slow origin, not a synchronization
	f := startFleet(t, o, standalone(redistest.Standalone(t)), 3)

	answers := make([]answer, clients)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			<-start
			answers[i] = f.get(f.nodes[i%len(f.nodes)], path)
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)

	kinds := map[string]int{}
	for i, a := range answers {
		if a.err != nil || a.status != http.StatusOK || a.body != body(path, 1) {
			t.Errorf("client %d (node %s): %v, want 200 %q", i, f.nodes[i%len(f.nodes)].name, a, body(path, 1))
			continue
		}
		kinds[a.xcache+" "+a.cacheStatus]++
	}
	if got := o.count(http.MethodGet, path); got != 1 {
		t.Errorf("origin requests for GET %s = %d, want 1", path, got)
	}
	t.Logf("%d clients in %s, origin requests %d; answers: %s", clients, took.Round(time.Millisecond),
		o.count(http.MethodGet, path), tally(kinds))
}

// TestStaleKeyIsRefreshedOncePerFleet: a key with max-age=1 and
// stale-while-revalidate=60, filled once and held by all three nodes, goes
// stale; concurrent requests to every node are all answered stale at once,
// and the fleet refreshes it with one origin request (held at the origin
// until every client was answered, so the nodes' refreshes overlap); every
// node then holds that refresh.
func TestStaleKeyIsRefreshedOncePerFleet(t *testing.T) {
	const (
		path    = "/swr/1"
		perNode = 10
	)
	gate := make(chan struct{})
	var openGate sync.Once
	open := func() { openGate.Do(func() { close(gate) }) }
	o := newOrigin(t, func(r *http.Request, n int) {
		if r.URL.Path == path && n > 1 {
			select { // refreshes wait for the test, bounded in case it fails first
			case <-gate:
			case <-time.After(10 * time.Second):
			}
		}
	})
	t.Cleanup(open) // before the origin closes: it waits for its handlers
	f := startFleet(t, o, standalone(redistest.Standalone(t)), 3)

	first := f.mustGet(t, f.nodes[0], path)
	if first.xcache != "MISS" || first.body != body(path, 1) {
		t.Fatalf("GET %s through A: %v, want a MISS with %q", path, first, body(path, 1))
	}
	for _, n := range f.nodes[1:] {
		if got := f.mustGet(t, n, path); !got.hit() || got.body != first.body {
			t.Fatalf("GET %s through %s: %v, want a fresh hit with %q (from L2, within max-age=1)", path, n.name, got, first.body)
		}
	}
	awaitStale(t, f, path, f.nodes...)

	answers := make([]answer, perNode*len(f.nodes))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			<-start
			answers[i] = f.get(f.nodes[i%len(f.nodes)], path)
		})
	}
	close(start)
	wg.Wait()
	for i, a := range answers {
		if a.err != nil || a.status != http.StatusOK || a.body != first.body || a.xcache != "STALE" {
			t.Errorf("concurrent request %d (node %s): %v, want 200 STALE %q", i, f.nodes[i%len(f.nodes)].name, a, first.body)
		}
	}
	eventually(t, 5*time.Second, "the refresh reaches the origin", func() (bool, string) {
		n := o.count(http.MethodGet, path)
		return n >= 2, fmt.Sprintf("%d origin requests", n)
	})
	open()

	// Every node ends up holding the one refresh: the one that fetched it,
	// and the others from L2, when their own refresh found the lease held.
	want := `"v2"`
	eventually(t, 5*time.Second, "every node holds the refreshed "+path, func() (bool, string) {
		for _, n := range f.nodes {
			in := f.inspect(t, n, path)
			if in.ETag != `"v1"` && in.ETag != want {
				t.Fatalf("node %s holds %s (%+v): refreshed again", n.name, in.ETag, in)
			}
			if in.ETag != want {
				return false, fmt.Sprintf("node %s: %+v", n.name, in)
			}
		}
		return true, ""
	})
	if got := o.count(http.MethodGet, path); got != 2 {
		t.Errorf("origin requests for GET %s = %d, want 2 (the fill and one refresh)", path, got)
	}
	for _, n := range f.nodes {
		if got := f.mustGet(t, n, path); got.xcache != "HIT" || got.body != body(path, 2) {
			t.Errorf("GET %s through %s after the refresh: %v, want a HIT with %q", path, n.name, got, body(path, 2))
		}
	}
	t.Logf("%d concurrent stale requests over %d nodes: origin requests %d (fill + refresh)",
		len(answers), len(f.nodes), o.count(http.MethodGet, path))
}

// TestStaleKeyIsFetchedOncePerFleetNodeByNode: A and B both hold a key
// that went stale. A asks first and fetches it again; the new version is in
// L2, fresh for 5 minutes, and A has let the key's lease go. Then B asks:
// it should take A's version from L2, not fetch the key once more. That is
// the fleet lease's promise (gateway/lease.go: "Background refreshes ...
// take the same lease, so a stale key is refreshed once per fleet";
// DESIGN.md: one origin fetch per key per node and per cluster), here with
// requests that do not overlap in time.
//
// It fails on moat as of this package's commit: a node whose L1 holds a
// stale entry never reads L2 (gateway/handler.go, lookup: L2 only on an L1
// miss), and when it then gets the key's lease, takeLease (gateway/lease.go)
// fetches without looking at L2 again; only a node that finds the lease held
// looks there (awaitFleet). The same hole lets a plain miss fetch twice when
// the other node's L2 write and lease release land between this node's L2
// lookup and its Acquire (seen now and then in
// TestFleetSharesRedis/*/l2_fill_is_a_hit_on_every_node).
func TestStaleKeyIsFetchedOncePerFleetNodeByNode(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		xcacheA    string // A's answer when it asks for the stale key
	}{
		{"stale_while_revalidate", "/swr/2", "STALE"}, // answered stale, refreshed in the background
		{"revalidation", "/short/2", "MISS"},          // no stale window: fetched before answering
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOrigin(t, nil)
			rs := redistest.Standalone(t)
			f := startFleet(t, o, standalone(rs), 3)
			a, b := f.nodes[0], f.nodes[1]
			if held := fill(t, f, tc.path, a, b); len(held) != 1 {
				t.Fatalf("B did not share A's fill of %s (%q): cannot set the scene", tc.path, held)
			}
			awaitStale(t, f, tc.path, a, b)

			if got := f.mustGet(t, a, tc.path); got.xcache != tc.xcacheA {
				t.Fatalf("GET %s through A, stale: %v, want X-Cache %s", tc.path, got, tc.xcacheA)
			}
			// A's new version is in L2 (its second L2 write) and no lease is
			// held in Redis.
			written := `moat_l2_writes_total{result="written"}`
			leases := keyPrefix(t) + "*:l:*"
			eventually(t, 5*time.Second, "A's new version of "+tc.path+" is in L2 and its lease let go", func() (bool, string) {
				w := f.counter(a, written)
				held := rs.Do(t, "KEYS", leases)
				return w >= 2 && held == "", fmt.Sprintf("A: %s %v; lease keys: %q", written, w, held)
			})
			if got := o.count(http.MethodGet, tc.path); got != 2 {
				t.Fatalf("origin requests for GET %s after A asked = %d, want 2", tc.path, got)
			}
			if in := f.inspect(t, b, tc.path); in.ETag != `"v1"` || in.Fresh {
				t.Fatalf("B holds %+v, want the stale v1", in)
			}

			got := f.mustGet(t, b, tc.path)
			holds := got.body
			if tc.xcacheA == "STALE" {
				// B answers stale at once and refreshes in the background:
				// what it refreshed to is what its L1 holds once it is no
				// longer v1.
				var in inspection
				eventually(t, 5*time.Second, "B's refresh of "+tc.path+" lands", func() (bool, string) {
					in = f.inspect(t, b, tc.path)
					return in.ETag != `"v1"`, fmt.Sprintf("B holds %+v", in)
				})
				holds = tc.path + " " + strings.Trim(in.ETag, `"`)
			}
			n := o.count(http.MethodGet, tc.path)
			if n != 2 || holds != body(tc.path, 2) {
				t.Errorf("B, asked after A refreshed %s for the fleet: %v, then holds %q; origin requests %d, want A's %q from L2 and 2 origin requests (fill, A's refresh); counters:%s",
					tc.path, got, holds, n, body(tc.path, 2), f.fleetMetrics())
			}
			t.Logf("B asked after A refreshed %s: %v, then holds %q; origin requests %d", tc.path, got, holds, n)
		})
	}
}

// awaitStale polls the nodes' admin /api/inspect (a request would start a
// refresh) until each holds path and it is no longer fresh.
func awaitStale(t *testing.T, f *fleet, path string, nodes ...*node) {
	t.Helper()
	eventually(t, 5*time.Second, "every node holds "+path+" stale", func() (bool, string) {
		for _, n := range nodes {
			if in := f.inspect(t, n, path); !in.Stored || in.Fresh {
				return false, fmt.Sprintf("node %s: %+v", n.name, in)
			}
		}
		return true, ""
	})
}

// tally formats counts of answer kinds, most frequent first.
func tally(kinds map[string]int) string {
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return kinds[keys[i]] > kinds[keys[j]] })
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %4d × %s", kinds[k], k)
	}
	return b.String()
}
