package books

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// redisApps starts n instances of the API on one database file (a Store
// each, as separate processes would have) and one real Redis (a client and
// a bus each, under a key prefix of the test's own), and returns them once
// every instance's bus hears the others.
func redisApps(t *testing.T, srv *redistest.Server, path string, n int) []*app {
	t.Helper()
	prefix := fmt.Sprintf("books-test-%d:", time.Now().UnixNano())
	var apps []*app
	var buses []*redisl2.Bus
	for range n {
		rc, err := redisl2.New(redisl2.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rc.Close)
		bus := rc.Bus(redisl2.BusOptions{Grace: 600 * time.Millisecond, Logger: quiet})
		o := CacheOptions{L2: rc.Tier(), Lease: rc.Lease(), Bus: bus, L2Timeout: time.Second} // -race on a loaded machine
		apps = append(apps, newApp(t, openStore(t, path), &o))
		buses = append(buses, bus)
	}
	eventually(t, "every instance's bus hears every instance", func() bool {
		for _, b := range buses {
			if len(b.Nodes()) < n {
				return false
			}
		}
		return true
	})
	return apps
}

func TestRedisInstances(t *testing.T) {
	srv := redistest.Standalone(t)

	t.Run("write_on_one_invalidates_the_other", func(t *testing.T) {
		path := seeded(t, small)
		apps := redisApps(t, srv, path, 2)
		a, b := apps[0], apps[1]
		db := fromDB{t, a.store}
		const x, y = 95, 150
		ax := db.book(x).Author.ID
		for _, p := range []string{bookPath(x), bookPath(y), authorPath(ax), "/books?page=5"} {
			get[any](b, p) // B loads (and writes L2)
			if _, q := get[any](b, p); q != 0 {
				t.Fatalf("GET %s on B again ran %d statements; want a hit", p, q)
			}
		}
		start := time.Now()
		if r := a.do(http.MethodPatch, bookPath(x), map[string]any{"title": "Written on A"}); r.status != http.StatusOK {
			t.Fatalf("PATCH on A = %d %s", r.status, r.body)
		}
		eventually(t, "B serves the new title", func() bool {
			got, _ := get[BookDetail](b, bookPath(x))
			return got.Title == "Written on A"
		})
		t.Logf("B served the new title %v after A's PATCH was sent", time.Since(start))
		fresh(t, &fixture{app: b}, authorPath(ax), db.author(ax))
		fresh(t, &fixture{app: b}, "/books?page=5", db.list(5, DefaultPageSize))
		// B's copy of an unrelated book survived.
		if _, q := get[BookDetail](b, bookPath(y)); q != 0 {
			t.Errorf("GET %s on B ran %d statements after A's write; want a hit", bookPath(y), q)
		}
	})

	t.Run("cold_stampede_is_one_load", func(t *testing.T) {
		path := seeded(t, small)
		apps := redisApps(t, srv, path, 2)
		// Hold the first statement of the load until every request waits
		// for it: on its own instance's flight, or for the other
		// instance's lease.
		var entered atomic.Int64
		release := make(chan struct{})
		for _, a := range apps {
			a.store.beforeQuery = func(context.Context, string) {
				if entered.Add(1) == 1 {
					<-release
				}
			}
		}
		queries := apps[0].store.Queries() + apps[1].store.Queries()
		const perInstance = 25
		var wg sync.WaitGroup
		bodies := make(chan string, 2*perInstance)
		for _, a := range apps {
			for range perInstance {
				wg.Go(func() {
					r := send(t, http.MethodGet, a.url+"/books/42", nil)
					if r.status != http.StatusOK {
						t.Errorf("GET = %d %s", r.status, r.body)
					}
					bodies <- string(r.body)
				})
			}
		}
		eventually(t, "one instance loads, every other request waits for it", func() bool {
			var coalesced, fleetWaits uint64
			for _, a := range apps {
				s := a.caches.Stats()["book"]
				coalesced += s.Coalesced
				fleetWaits += s.FleetWaits
			}
			return entered.Load() == 1 && coalesced == 2*(perInstance-1) && fleetWaits == 1
		})
		close(release)
		wg.Wait()
		close(bodies)
		loads := apps[0].loads("book") + apps[1].loads("book")
		n := apps[0].store.Queries() + apps[1].store.Queries() - queries
		want := mustJSON(t, fromDB{t, apps[0].store}.book(42)) + "\n"
		for body := range bodies {
			if body != want {
				t.Fatalf("body %s; want %s", strings.TrimSpace(body), want)
			}
		}
		if loads != 1 || n != 2 {
			t.Errorf("%d loads, %d statements for %d concurrent cold GETs on 2 instances; want 1 load of 2 statements", loads, n, 2*perInstance)
		}
	})
}
