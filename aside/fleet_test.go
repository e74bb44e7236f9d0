package aside

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/faulttier"
	"github.com/moatproxy/moat/gateway"
)

// plainTier hides the Invalidate of the tier it holds.
type plainTier struct{ cache.Tier }

// leaseStub always grants the lease.
type leaseStub struct{}

func (leaseStub) Acquire(context.Context, string, time.Duration) (func(), bool, error) {
	return func() {}, true, nil
}
func (leaseStub) Held(context.Context, string) (bool, error) { return false, nil }

// fleet is what the nodes of a fleet share, in one process.
type fleet struct {
	l2    *cache.SharedMemory
	lease *gateway.LocalLease
	bus   *gateway.LocalBus
}

func newFleet(t testing.TB) *fleet {
	l2, err := cache.NewSharedMemory(cache.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l2.Close() })
	return &fleet{l2: l2, lease: &gateway.LocalLease{}, bus: &gateway.LocalBus{}}
}

func bookTags(key string, _ book) []string { return []string{"book:" + key} }

// node returns a Cache of the fleet (tagged book:<key> unless o says).
func node[V any](t testing.TB, f *fleet, o Options[V]) *Cache[V] {
	o.L2, o.Lease, o.Bus = f.l2, f.lease, f.bus
	if o.L2Timeout == 0 {
		o.L2Timeout = time.Second // -race on a loaded machine
	}
	return newCache(t, o)
}

func peek[V any](c *Cache[V], key string) (V, bool) {
	it, ok := c.l1.GetIfPresent(key)
	if !ok {
		var zero V
		return zero, false
	}
	return it.v, true
}

// stampede runs n Gets of key on each node at once with a loader shared by
// the nodes that waits for release, and checks that one load answered
// them all.
func stampede(t *testing.T, nodes []*Cache[book], n int) {
	t.Helper()
	release := make(chan struct{})
	l := loader{next: func(context.Context, int64) (book, error) {
		<-release
		return book{ID: 1, Title: "once"}, nil
	}}
	results := make(chan result, n*len(nodes))
	for _, c := range nodes {
		for range n {
			go func() {
				v, err := c.Get(context.Background(), "1", l.load)
				results <- result{v, err}
			}()
		}
	}
	eventually(t, "one node loads and the others wait for it", func() bool {
		var waits, coalesced uint64
		for _, c := range nodes {
			s := c.Stats()
			waits += s.FleetWaits
			coalesced += s.Coalesced
		}
		return l.calls.Load() == 1 && waits == uint64(len(nodes)-1) && coalesced == uint64(len(nodes)*(n-1))
	})
	close(release)
	for range n * len(nodes) {
		if r := <-results; r.err != nil || r.v.Title != "once" {
			t.Fatalf("Get = %+v, %v; want once", r.v, r.err)
		}
	}
	if got := l.calls.Load(); got != 1 {
		t.Errorf("loads = %d across %d nodes; want 1", got, len(nodes))
	}
}

func TestFleetStampedeIsOneLoad(t *testing.T) {
	noLeaks(t)
	f := newFleet(t)
	stampede(t, []*Cache[book]{node(t, f, Options[book]{}), node(t, f, Options[book]{})}, 50)
}

// TestL2FillServesOtherNodes: what node A loaded is an L2 hit for node B,
// decoded with the Codec, and B never calls its loader.
func TestL2FillServesOtherNodes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec Codec[book]
	}{{"json", JSON[book]()}, {"msgpack", Msgpack[book]()}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			a := node(t, f, Options[book]{Codec: tc.codec, Tags: bookTags})
			b := node(t, f, Options[book]{Codec: tc.codec, Tags: bookTags})
			ctx := context.Background()
			want := book{ID: 1, Title: "dune", Tags: []string{"sf"}}
			if _, err := a.Get(ctx, "1", func(context.Context) (book, error) { return want, nil }); err != nil {
				t.Fatal(err)
			}
			for range 2 {
				got, err := b.Get(ctx, "1", never(t))
				if err != nil || got.ID != want.ID || got.Title != want.Title || len(got.Tags) != 1 || got.Tags[0] != "sf" {
					t.Fatalf("B.Get = %+v, %v; want %+v", got, err, want)
				}
			}
			if s := b.Stats(); s.L2Hits != 1 || s.Hits != 1 || s.Loads != 0 {
				t.Errorf("B's Stats = %+v; want 1 L2 hit then 1 L1 hit, no load", s)
			}
			// The copy B holds carries its tags (but not the key tag).
			if it, _ := b.l1.GetIfPresent("1"); len(it.tags) != 1 || it.tags[0] != "book:1" {
				t.Errorf("tags of B's copy = %q; want [book:1]", it.tags)
			}
		})
	}
}

// TestVersionsAndNamesNeverShareL2: a Cache of Version "2" never reads what
// Version "1" wrote, nor one Name what another did.
func TestVersionsAndNamesNeverShareL2(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	v1 := node(t, f, Options[book]{Version: "1"})
	if _, err := v1.Get(ctx, "1", func(context.Context) (book, error) { return book{Title: "old schema"}, nil }); err != nil {
		t.Fatal(err)
	}
	type bookV2 struct{ Title, Subtitle string }
	v2 := node(t, f, Options[bookV2]{Version: "2"})
	got, err := v2.Get(ctx, "1", func(context.Context) (bookV2, error) { return bookV2{Title: "new", Subtitle: "schema"}, nil })
	if err != nil || got.Title != "new" {
		t.Errorf("Version 2 Get = %+v, %v; want its own load", got, err)
	}
	other := node(t, f, Options[book]{Name: "authors", Version: "1"})
	a, err := other.Get(ctx, "1", func(context.Context) (book, error) { return book{Title: "an author"}, nil })
	if err != nil || a.Title != "an author" {
		t.Errorf("another Name's Get = %+v, %v; want its own load", a, err)
	}
	if s := v2.Stats(); s.L2Hits != 0 || s.Loads != 1 {
		t.Errorf("Version 2 Stats = %+v; want no L2 hit", s)
	}
	if b, _ := v1.Get(ctx, "1", never(t)); b.Title != "old schema" {
		t.Errorf("Version 1 reads %q", b.Title)
	}
}

// TestInvalidateReachesEveryNode: Invalidate on node A removes the tagged
// values from node B (through the bus, before it returns with a LocalBus)
// and from L2.
func TestInvalidateReachesEveryNode(t *testing.T) {
	f := newFleet(t)
	a := node(t, f, Options[book]{Tags: bookTags})
	b := node(t, f, Options[book]{Tags: bookTags})
	ctx := context.Background()
	var l loader
	for _, k := range []string{"1", "2"} {
		_, _ = a.Get(ctx, k, l.load)
		_, _ = b.Get(ctx, k, never(t))
	}
	if err := a.Invalidate(ctx, "book:1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := peek(b, "1"); ok {
		t.Errorf("B still holds the invalidated value")
	}
	if _, ok := peek(b, "2"); !ok {
		t.Errorf("B lost a value the purge did not name")
	}
	if e, _ := f.l2.Get(ctx, a.l2Key("1")); e != nil {
		t.Errorf("L2 still holds the invalidated value")
	}
	if v, _ := b.Get(ctx, "1", l.load); v.Title != "v3" {
		t.Errorf("B.Get after the purge = %q; want a new load", v.Title)
	}
}

// TestDeleteReachesEveryNodeAndVersion: Delete removes a key from every
// node, and its L2 copies of every Version.
func TestDeleteReachesEveryNodeAndVersion(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	a := node(t, f, Options[book]{Version: "1"})
	b := node(t, f, Options[book]{Version: "1"})
	c := node(t, f, Options[book]{Version: "2"})
	var l loader
	for _, n := range []*Cache[book]{a, b, c} {
		_, _ = n.Get(ctx, "1", l.load)
	}
	if l.calls.Load() != 2 {
		t.Fatalf("loads = %d; want 2 (one per Version)", l.calls.Load())
	}
	if err := a.Delete(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	for name, n := range map[string]*Cache[book]{"B": b, "C": c} {
		if _, ok := peek(n, "1"); ok {
			t.Errorf("%s still holds the deleted key", name)
		}
		if e, _ := f.l2.Get(ctx, n.l2Key("1")); e != nil {
			t.Errorf("L2 still holds %s's copy", name)
		}
	}
}

// TestSetReachesOtherNodes: after Set on A, B drops its copy and reads the
// new value from L2.
func TestSetReachesOtherNodes(t *testing.T) {
	f := newFleet(t)
	ctx := context.Background()
	a, b := node(t, f, Options[book]{}), node(t, f, Options[book]{})
	var l loader
	_, _ = b.Get(ctx, "1", l.load)
	if err := a.Set(ctx, "1", book{Title: "written"}); err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "1", never(t)); err != nil || v.Title != "written" {
		t.Errorf("B.Get = %+v, %v; want written", v, err)
	}
}

// TestProxyPurgesReachCaches: a moat proxy on the same bus and L2 purges
// tags (and everything) in the Caches, and hears their invalidations.
func TestProxyPurgesReachCaches(t *testing.T) {
	f := newFleet(t)
	origin, _ := url.Parse("http://127.0.0.1:1")
	proxy, err := gateway.New(gateway.Options{Origin: origin, L2: f.l2, Bus: f.bus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	a := node(t, f, Options[book]{Tags: bookTags})
	b := node(t, f, Options[book]{Tags: bookTags})
	ctx := context.Background()
	var l loader
	for _, k := range []string{"1", "2"} {
		_, _ = a.Get(ctx, k, l.load)
		_, _ = b.Get(ctx, k, never(t))
	}

	// The proxy may publish after Purge returns (from a queue, once L2 has
	// taken the purge).
	if _, err := proxy.Purge(ctx, gateway.Purge{Tags: []string{"book:1"}}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Cache[book]{a, b} {
		eventually(t, "the node drops book:1", func() bool { _, ok := peek(n, "1"); return !ok })
	}
	for name, n := range map[string]*Cache[book]{"A": a, "B": b} {
		if _, ok := peek(n, "2"); !ok {
			t.Errorf("%s lost book:2", name)
		}
	}
	if e, _ := f.l2.Get(ctx, a.l2Key("1")); e != nil {
		t.Errorf("the proxy's purge left book:1 in L2")
	}

	if _, err := proxy.Purge(ctx, gateway.Purge{All: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a purge of all empties L1", func() bool { return a.Stats().Entries+b.Stats().Entries == 0 })
	// L2 still has book:2, stored before the purge: not served again.
	if v, _ := b.Get(ctx, "2", l.load); v.Title == "v2" {
		t.Errorf("B served an L2 copy stored before the purge of all")
	}

	before := proxy.Stats().PurgesByKind[gateway.PurgeRemote].Load()
	if err := a.Invalidate(ctx, "book:9"); err != nil {
		t.Fatal(err)
	}
	if proxy.Stats().PurgesByKind[gateway.PurgeRemote].Load() != before+1 {
		t.Errorf("the proxy did not apply the Cache's invalidation")
	}
}

// TestBusLostDropsEverything: when the bus may have lost purges, nothing
// held is served again, nor any L2 copy stored until then.
func TestBusLostDropsEverything(t *testing.T) {
	f := newFleet(t)
	var lost func()
	bus := busFunc(func(deliver func(gateway.Purge), l func()) (func(gateway.Purge), func()) {
		lost = l
		return func(gateway.Purge) {}, func() {}
	})
	ctx := context.Background()
	c := newCache(t, Options[book]{L2: f.l2, Bus: bus})
	var l loader
	_, _ = c.Get(ctx, "1", l.load)
	eventually(t, "the value is in L2", func() bool { e, _ := f.l2.Get(ctx, c.l2Key("1")); return e != nil })
	lost()
	if c.Stats().Entries != 0 {
		t.Errorf("values survived a lost bus")
	}
	if v, _ := c.Get(ctx, "1", l.load); v.Title != "v2" {
		t.Errorf("Get = %q; want a new load, not the L2 copy", v.Title)
	}
}

type busFunc func(deliver func(gateway.Purge), lost func()) (func(gateway.Purge), func())

func (f busFunc) Join(deliver func(gateway.Purge), lost func()) (func(gateway.Purge), func()) {
	return f(deliver, lost)
}

// TestL2FailureIsAMiss: a shared tier that fails or hangs costs a Get at
// most L2Timeout, never an error.
func TestL2FailureIsAMiss(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault faulttier.Fault
	}{{"down", faulttier.Fault{Err: faulttier.ErrInjected}}, {"frozen", faulttier.Fault{Hang: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFleet(t)
			ft := faulttier.New(f.l2)
			ft.Inject(tc.fault)
			c := newCache(t, Options[book]{L2: ft, L2Timeout: 5 * time.Millisecond})
			var l loader
			start := time.Now()
			v, err := c.Get(context.Background(), "1", l.load)
			if err != nil || v.Title != "v1" {
				t.Errorf("Get = %+v, %v; want v1 from the loader", v, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Get took %v with L2 %s", d, tc.name)
			}
			eventually(t, "the L2 write fails", func() bool { return c.Stats().L2Errors == 2 })
			if err := c.Delete(context.Background(), "1"); !errors.Is(err, ErrL2) {
				t.Errorf("Delete = %v; want ErrL2", err)
			}
		})
	}
}

// TestGetManyAcrossNodes: GetMany on two nodes at once loads each key once
// in the fleet.
func TestGetManyAcrossNodes(t *testing.T) {
	f := newFleet(t)
	a, b := node(t, f, Options[book]{}), node(t, f, Options[book]{})
	var mu sync.Mutex
	loads := map[string]int{}
	release := make(chan struct{})
	load := func(_ context.Context, keys []string) (map[string]book, error) {
		mu.Lock()
		for _, k := range keys {
			loads[k]++
		}
		mu.Unlock()
		<-release
		out := map[string]book{}
		for _, k := range keys {
			out[k] = book{Title: k}
		}
		return out, nil
	}
	keys := []string{"1", "2", "3", "4"}
	var wg sync.WaitGroup
	for _, c := range []*Cache[book]{a, b} {
		wg.Go(func() {
			m, err := c.GetMany(context.Background(), keys, load)
			if err != nil || len(m) != len(keys) {
				t.Errorf("GetMany = %v, %v", m, err)
			}
		})
	}
	eventually(t, "one node loads, the other waits", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(loads) == len(keys) && a.Stats().FleetWaits+b.Stats().FleetWaits == uint64(len(keys))
	})
	close(release)
	wg.Wait()
	for k, n := range loads {
		if n != 1 {
			t.Errorf("%s loaded %d times", k, n)
		}
	}
}

// gatedInvalidator holds Invalidate until gate is closed.
type gatedInvalidator struct {
	cache.Invalidator
	entered, gate chan struct{}
}

func (g *gatedInvalidator) Invalidate(ctx context.Context, inv cache.Invalidation) (int, error) {
	close(g.entered)
	<-g.gate
	return g.Invalidator.Invalidate(ctx, inv)
}

// TestInvalidateRacingL2Read: a copy read from L2 while an Invalidate of
// its tag is under way does not outlive the Invalidate in L1.
func TestInvalidateRacingL2Read(t *testing.T) {
	f := newFleet(t)
	gi := &gatedInvalidator{Invalidator: f.l2, entered: make(chan struct{}), gate: make(chan struct{})}
	c := newCache(t, Options[book]{L2: gi, L2Timeout: time.Second, Tags: bookTags})
	ctx := context.Background()
	var l loader
	_, _ = c.Get(ctx, "1", l.load)
	eventually(t, "the value is in L2", func() bool { e, _ := f.l2.Get(ctx, c.l2Key("1")); return e != nil })
	c.l1.Invalidate("1") // evicted from L1; L2 has it
	done := make(chan error, 1)
	go func() { done <- c.Invalidate(ctx, "book:1") }()
	<-gi.entered
	if v, _ := c.Get(ctx, "1", never(t)); v.Title != "v1" { // the purge has not returned: an old answer is fine
		t.Fatalf("Get = %q; want v1 from L2", v.Title)
	}
	close(gi.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := peek(c, "1"); ok {
		t.Errorf("the copy read from L2 during the purge survived it")
	}
}
