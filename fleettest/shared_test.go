package fleettest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/redistest"
)

// busTimeout bounds how long a purge published on the bus may take to reach
// another node while Redis is up.
const busTimeout = 5 * time.Second

// TestFleetSharesRedis runs the sharing scenarios on a standalone Redis and
// on a 3-master Redis Cluster (full coverage), each scenario with its own
// origin, its own three nodes and its own key prefix.
func TestFleetSharesRedis(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(*testing.T, redisConf)
	}{
		{"l2_fill_is_a_hit_on_every_node", testL2FillIsShared},
		{"purges_through_C_reach_A_and_B", testPurgesReachEveryNode},
		{"write_through_A_invalidates_B", testWriteInvalidatesEveryNode},
	}
	backends := []struct {
		name  string
		start func(*testing.T) redisConf
	}{
		{"standalone", func(t *testing.T) redisConf { return standalone(redistest.Standalone(t)) }},
		{"cluster", func(t *testing.T) redisConf { return cluster(redistest.StartCluster(t, 3, true)) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			rc := b.start(t)
			for _, s := range scenarios {
				t.Run(s.name, func(t *testing.T) { s.run(t, rc) })
			}
		})
	}
}

// testL2FillIsShared: a GET through A goes to the origin; the same GET
// through B and C is answered from L2, so the origin sees it once.
func testL2FillIsShared(t *testing.T, rc redisConf) {
	o := newOrigin(t, nil)
	f := startFleet(t, o, rc, 3)
	const path = "/items/1"

	first := f.mustGet(t, f.nodes[0], path)
	if first.xcache != "MISS" || first.body != body(path, 1) {
		t.Fatalf("GET %s through A: %v, want a MISS with %q", path, first, body(path, 1))
	}
	for _, n := range f.nodes[1:] {
		got := f.mustGet(t, n, path)
		if !got.hit() || got.body != first.body {
			t.Errorf("GET %s through %s: %v, want a hit with %q (from L2)", path, n.name, got, first.body)
		} else {
			t.Logf("GET %s through %s: %v", path, n.name, got)
		}
	}
	if got := o.count(http.MethodGet, path); got != 1 {
		t.Errorf("origin requests for GET %s = %d, want 1", path, got)
	}
}

// testPurgesReachEveryNode: for each kind of purge, a key held in L1 by A
// and by B is purged through C's admin API (C never held it); A and B then
// stop serving what they held (as soon as the bus brings them the purge),
// and A's next answer is a new fetch from the origin.
//
// Each kind has a fleet of its own: after a purge, a node refuses L2
// entries whose fill started less than the allowed clock skew (1s,
// gateway.Options.L2Skew) after it (gateway/l2.go, vouch), so an L2 fill
// made right after another kind's route or all purge would be a miss.
func testPurgesReachEveryNode(t *testing.T, rc redisConf) {
	kinds := []struct {
		name, path, purge string
	}{
		{"tag", "/items/tag-1", `{"tags": ["item:/items/tag-1"]}`},
		{"url", "/items/url-1", `{"urls": ["http://` + host + `/items/url-1"]}`},
		{"prefix", "/items/prefix-1", `{"prefixes": ["/items/prefix-"]}`},
		{"route", "/items/route-1", `{"routes": ["GET /items/{id}"]}`},
		{"all", "/items/all-1", `{"all": true}`},
	}
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			o := newOrigin(t, nil)
			f := startFleet(t, o, rc, 3)
			a, b, c := f.nodes[0], f.nodes[1], f.nodes[2]
			held := fill(t, f, k.path, a, b)
			status, res := f.purge(t, c, k.purge)
			if status != http.StatusOK {
				t.Fatalf("POST /purge %s through C: %d %s, want 200", k.purge, status, res)
			}
			purged := time.Now()

			onA := awaitNew(t, f, a, k.path, held, busTimeout)
			tookA := time.Since(purged)
			if onA.xcache != "MISS" {
				t.Errorf("first new answer of A for %s: %v, want a MISS (a new fetch)", k.path, onA)
			}
			onB := awaitNew(t, f, b, k.path, held, busTimeout)
			t.Logf("%s purge through C (%s): A new after %s: %v; B new after %s: %v; origin requests %d",
				k.name, strings.Join(strings.Fields(res), " "), tookA.Round(time.Millisecond), onA,
				time.Since(purged).Round(time.Millisecond), onB, o.count(http.MethodGet, k.path))
		})
	}
}

// testWriteInvalidatesEveryNode: a PUT through A that the origin answers
// 204 invalidates the URL (RFC 9111 §4.4) on B too: B's next answer, once
// the bus brought the invalidation, is a new fetch.
func testWriteInvalidatesEveryNode(t *testing.T, rc redisConf) {
	o := newOrigin(t, nil)
	f := startFleet(t, o, rc, 3)
	a, b := f.nodes[0], f.nodes[1]
	const path = "/items/7"

	held := fill(t, f, path, a, b)
	if put := f.do(a, http.MethodPut, path); put.err != nil || put.status != http.StatusNoContent {
		t.Fatalf("PUT %s through A: %v, want 204", path, put)
	}
	written := time.Now()
	onB := awaitNew(t, f, b, path, held, busTimeout)
	tookB := time.Since(written)
	if onB.xcache != "MISS" {
		t.Errorf("first new answer of B for %s: %v, want a MISS (a new fetch)", path, onB)
	}
	onA := f.mustGet(t, a, path)
	if slices.Contains(held, onA.body) {
		t.Errorf("GET %s through A after its PUT: %v, want anything but what was held (%q)", path, onA, held)
	}
	if got := o.count(http.MethodPut, path); got != 1 {
		t.Errorf("origin requests for PUT %s = %d, want 1", path, got)
	}
	t.Logf("PUT through A: B new after %s: %v; then A: %v; origin GETs %d",
		tookB.Round(time.Millisecond), onB, onA, o.count(http.MethodGet, path))
}

// fill GETs a new path through first (a miss) and then through each of
// others, so that every one of them holds it in L1, and returns the bodies
// they hold. The others are normally answered from L2 with first's fill; a
// node that fetched for itself (see TestStaleKeyIsRefreshedOncePerFleet
// for the lease hole that allows it) still holds the path, which is what
// the purge tests need, and is logged.
func fill(t *testing.T, f *fleet, path string, first *node, others ...*node) []string {
	t.Helper()
	a := f.mustGet(t, first, path)
	if a.xcache != "MISS" || a.body != body(path, 1) {
		t.Fatalf("GET %s through %s: %v, want a MISS with %q", path, first.name, a, body(path, 1))
	}
	held := []string{a.body}
	for _, n := range others {
		got := f.mustGet(t, n, path)
		if !got.hit() || got.body != a.body {
			t.Logf("GET %s through %s: %v; not a hit of %s's fill (the lease hole), it holds its own fetch", path, n.name, got, first.name)
		}
		if !slices.Contains(held, got.body) {
			held = append(held, got.body)
		}
	}
	return held
}

// awaitNew polls GETs of path through n until the body is none of held
// (the bus has brought the invalidation) and returns that answer.
func awaitNew(t *testing.T, f *fleet, n *node, path string, held []string, timeout time.Duration) answer {
	t.Helper()
	var got answer
	eventually(t, timeout, fmt.Sprintf("%s stops serving %s (%q)", n.name, path, held), func() (bool, string) {
		got = f.mustGet(t, n, path)
		return !slices.Contains(held, got.body), got.String()
	})
	if !strings.HasPrefix(got.body, path+" v") {
		t.Errorf("new answer of %s for %s: %v, want a body from the origin", n.name, path, got)
	}
	return got
}
