package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/faulttier"
	"github.com/moatproxy/moat/policy"
)

// remoteTier stands for a shared L2 in another process: every entry goes
// through the binary codec both ways, so readers get new pointers, as from
// Redis.
type remoteTier struct{ m cache.Tier }

// remoteInvalidator is a remoteTier over a tier that applies purges.
type remoteInvalidator struct {
	remoteTier
	inv cache.Invalidator
}

func (r remoteInvalidator) Invalidate(ctx context.Context, inv cache.Invalidation) (int, error) {
	return r.inv.Invalidate(ctx, inv)
}

func (r remoteTier) Get(ctx context.Context, key string) (*cache.Entry, error) {
	e, err := r.m.Get(ctx, key)
	if e == nil || err != nil {
		return nil, err
	}
	return cache.DecodeEntry(cache.AppendEntry(nil, e))
}

func (r remoteTier) Set(ctx context.Context, key string, e *cache.Entry) error {
	c, err := cache.DecodeEntry(cache.AppendEntry(nil, e))
	if err != nil {
		return err
	}
	return r.m.Set(ctx, key, c)
}

func (r remoteTier) Delete(ctx context.Context, key string) error { return r.m.Delete(ctx, key) }

// fleet is nodes sharing one L2, one clock and one Bus.
type fleet struct {
	t      *testing.T
	origin *origin
	l2     cache.Tier
	bus    Bus
	vers   *LocalVersions // the fleet's shared namespace versions
	// ownVersions: each node keeps versions of its own (Options.Versions
	// nil), as an application that does not set them.
	ownVersions bool
	lease       Lease // set before start to make fills fleet-wide
	clock       *clock
	pols        []policy.Policy
	nodes       []*node
}

type node struct {
	gw    *Handler
	front *httptest.Server
}

// newFleet makes a fleet whose L2 is a remoteTier over a memory tier on the
// fleet's clock (whose deletes by other nodes' purges are all that reach
// it), wrapped by wrap (if not nil).
func newFleet(t *testing.T, o *origin, pols []policy.Policy, wrap func(cache.Tier) cache.Tier) *fleet {
	return makeFleet(t, o, pols, wrap, func(now func() time.Time) (cache.Tier, func() error) {
		mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return remoteTier{mem}, mem.Close
	})
}

// newSharedFleet makes a fleet whose L2 applies purges (a
// cache.SharedMemory behind the codec), as the Redis tier does.
func newSharedFleet(t *testing.T, o *origin, pols []policy.Policy, wrap func(cache.Tier) cache.Tier) *fleet {
	return makeFleet(t, o, pols, wrap, func(now func() time.Time) (cache.Tier, func() error) {
		mem, err := cache.NewSharedMemory(cache.MemoryOptions{MaxBytes: 64 << 20, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		return remoteInvalidator{remoteTier{mem}, mem}, mem.Close
	})
}

func makeFleet(t *testing.T, o *origin, pols []policy.Policy, wrap func(cache.Tier) cache.Tier, l2 func(now func() time.Time) (cache.Tier, func() error)) *fleet {
	fl := &fleet{t: t, origin: o, clock: newClock(), pols: pols, bus: new(LocalBus), vers: new(LocalVersions)}
	tier, closeTier := l2(fl.clock.Now)
	t.Cleanup(func() { closeTier() })
	fl.l2 = tier
	if wrap != nil {
		fl.l2 = wrap(fl.l2)
	}
	return fl
}

// start adds a node (a new process, as far as moat can tell).
func (fl *fleet) start() *node {
	t := fl.t
	u, _ := url.Parse(fl.origin.URL)
	tbl, err := policy.New(fl.pols)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{}
	var vers Versions = fl.vers
	if fl.ownVersions {
		vers = nil
	}
	gw, err := New(Options{
		Origin: u, Policies: tbl, Now: fl.clock.Now, OriginTimeout: 2 * time.Second,
		L2: fl.l2, L2Timeout: 50 * time.Millisecond, L2Skew: time.Nanosecond,
		Bus: fl.bus, Versions: vers, Lease: fl.lease,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.gw = gw
	n.front = httptest.NewServer(gw)
	t.Cleanup(func() { n.front.Close(); gw.Close() })
	fl.nodes = append(fl.nodes, n)
	return n
}

// stop ends a node, its queued L2 writes sent first.
func (fl *fleet) stop(n *node) {
	n.front.Close()
	n.gw.Close()
	for i, m := range fl.nodes {
		if m == n {
			fl.nodes = append(fl.nodes[:i], fl.nodes[i+1:]...)
		}
	}
}

func (n *node) do(t *testing.T, method, path string) result {
	t.Helper()
	req, _ := http.NewRequest(method, n.front.URL+path, nil)
	req.Host = "api.example" // one name for every node, as behind a load balancer
	resp, err := n.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

// written waits until node n's L2 queue has sent want entries.
func (n *node) written(t *testing.T, want int64) {
	t.Helper()
	waitFor(t, "L2 writes", func() bool { return n.gw.l2.Written.Load() >= want })
}

func taggedOrigin(t *testing.T) *origin {
	var v atomic.Int64
	return newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "all item:"+r.URL.Path)
		fmt.Fprintf(w, "%s v%d", r.URL.Path, v.Add(1))
	})
}

func TestFleetSharesL2(t *testing.T) {
	o := taggedOrigin(t)
	// L2 deletes are lost (as when L2 is briefly down): what keeps a purged
	// entry in L2 from being served is that no node vouches for it.
	var ft *faulttier.Tier
	fl := newFleet(t, o, []policy.Policy{{Pattern: "GET /r/{id}"}, {Pattern: "GET /s/{id}"}}, func(l2 cache.Tier) cache.Tier { ft = faulttier.New(l2); return ft })
	ft.Inject(faulttier.Fault{Drop: true}, faulttier.OpDelete)
	a, b := fl.start(), fl.start()
	fl.clock.Advance(time.Second) // after both nodes started

	t.Run("a_fill_on_A_is_a_hit_on_B", func(t *testing.T) {
		a.do(t, "GET", "/x")
		a.written(t, 1)
		r := b.do(t, "GET", "/x")
		wantXCache(t, r, "HIT")
		if n := o.count("GET /x"); n != 1 {
			t.Fatalf("origin requests = %d, want 1", n)
		}
	})
	t.Run("a_write_through_A_is_a_miss_on_B", func(t *testing.T) {
		fl.clock.Advance(time.Second)
		a.do(t, "PUT", "/x")
		wantXCache(t, b.do(t, "GET", "/x"), "MISS")
	})
	for _, tc := range []struct{ name, path, purge string }{
		{"tag", "/t", `{"tags": ["item:/t"]}`},
		{"prefix", "/p/1", `{"prefixes": ["/p/"]}`},
		{"route", "/r/1", `{"routes": ["GET /r/{id}"]}`},
	} {
		t.Run(tc.name+"_purge_through_B_reaches_A", func(t *testing.T) {
			fl.clock.Advance(time.Second)
			w := a.gw.l2.Written.Load()
			a.do(t, "GET", tc.path)
			a.written(t, w+1)
			wantXCache(t, b.do(t, "GET", tc.path), "HIT") // B has it too, from L2
			fl.clock.Advance(time.Second)
			var p Purge
			switch tc.name {
			case "tag":
				p.Tags = []string{"item:" + tc.path}
			case "prefix":
				p.Prefixes = []string{"/p/"}
			case "route":
				p.Routes = []string{"GET /r/{id}"}
			}
			if _, err := b.gw.Purge(context.Background(), p); err != nil {
				t.Fatal(err)
			}
			wantXCache(t, a.do(t, "GET", tc.path), "MISS")
		})
	}
	t.Run("a_route_purge_survives_a_restart_of_both", func(t *testing.T) {
		fl.clock.Advance(time.Second)
		before := o.count("GET /s/2")
		w := a.gw.l2.Written.Load()
		a.do(t, "GET", "/s/2")
		a.written(t, w+1)
		fl.clock.Advance(time.Second)
		if _, err := a.gw.Purge(context.Background(), Purge{Routes: []string{"GET /s/{id}"}}); err != nil {
			t.Fatal(err)
		}
		fl.stop(a)
		fl.stop(b)
		fl.clock.Advance(time.Second)
		a2, b2 := fl.start(), fl.start()
		// The restarted nodes start from the configured route version:
		// the purged entry's key is the current one again, and L2 still
		// holds it. Neither node vouches for what was stored before it
		// started.
		for _, n := range []*node{a2, b2} {
			if r := n.do(t, "GET", "/s/2"); r.xcache() == "HIT" && o.count("GET /s/2") == before+1 {
				t.Fatalf("a restarted node served the purged entry %q", r.body)
			}
		}
	})
}

func TestFaultyL2NeverCostsAnAnswer(t *testing.T) {
	o := taggedOrigin(t)
	var ft *faulttier.Tier
	fl := newFleet(t, o, nil, func(l2 cache.Tier) cache.Tier { ft = faulttier.New(l2); return ft })
	a := fl.start()
	fl.clock.Advance(time.Second)
	for _, tc := range []struct {
		name  string
		fault faulttier.Fault
	}{
		{"down", faulttier.Fault{Err: faulttier.ErrInjected}},
		{"hanging", faulttier.Fault{Hang: true}},
		{"slow", faulttier.Fault{Latency: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.gw.l2.failures.Store(0) // each fault meets a closed breaker
			a.gw.l2.openUntil.Store(0)
			errs := a.gw.l2.Errors.Load()
			ft.Inject(tc.fault)
			defer ft.Heal()
			for i := range 8 {
				path := fmt.Sprintf("/%s/%d", tc.name, i)
				start := time.Now()
				r := a.do(t, "GET", path)
				if r.status != http.StatusOK {
					t.Fatalf("%s: %d, want the origin's 200", path, r.status)
				}
				// The L2 deadline is 50ms; the origin answers at once.
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("%s took %v with L2 %s", path, d, tc.name)
				}
				wantXCache(t, a.do(t, "GET", path), "HIT") // L1 works
			}
			fl.clock.Advance(time.Second)
			if _, err := a.gw.Purge(context.Background(), Purge{Tags: []string{"all"}}); err != nil {
				t.Fatal(err)
			}
			wantXCache(t, a.do(t, "GET", fmt.Sprintf("/%s/0", tc.name)), "MISS") // the purge took effect on L1
			st, _ := a.gw.L2Stats()
			if st.Errors == errs {
				t.Errorf("no L2 error counted while L2 was %s", tc.name)
			}
			if !st.Open {
				t.Errorf("the breaker did not open after L2 failed %d times", st.Errors-errs)
			}
		})
	}
	if a.gw.l2.Errors.Load() == 0 {
		t.Fatal("no L2 error counted")
	}
}

// lostBus is a LocalBus whose members can be told purges were lost.
type lostBus struct {
	LocalBus
	lost []func()
}

func (b *lostBus) Join(deliver func(Purge), lost func()) (func(Purge), func()) {
	b.lost = append(b.lost, lost)
	return b.LocalBus.Join(deliver, lost)
}

func TestLostPurgesDropWhatANodeHolds(t *testing.T) {
	o := taggedOrigin(t)
	fl := newFleet(t, o, nil, nil)
	bus := new(lostBus)
	fl.bus = bus
	a, b := fl.start(), fl.start()
	fl.clock.Advance(time.Second)
	w := a.gw.l2.Written.Load()
	a.do(t, "GET", "/x")
	a.written(t, w+1)
	wantXCache(t, b.do(t, "GET", "/x"), "HIT") // B promoted it from L2
	fl.clock.Advance(time.Second)
	bus.lost[1]() // B may have missed purges
	for range 2 {
		// Neither B's L1 copy nor L2's may be served; what B fetches
		// after that is its own again.
		if r := b.do(t, "GET", "/x"); r.xcache() == "HIT" && o.count("GET /x") == 1 {
			t.Fatalf("after lost purges, B served what it held: %q", r.body)
		}
	}
	wantXCache(t, b.do(t, "GET", "/x"), "HIT")
	if got := b.gw.Stats().Distrusts.Load(); got != 1 {
		t.Errorf("Distrusts = %d, want 1", got)
	}
	wantXCache(t, a.do(t, "GET", "/x"), "HIT") // A lost nothing
}
