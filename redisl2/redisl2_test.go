package redisl2_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/tiertest"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// client connects to addrs (a standalone server unless mode says), with a
// key prefix of the test's own so that tests sharing a server do not meet.
func client(t testing.TB, mode string, addrs ...string) *redisl2.Client {
	t.Helper()
	c, err := redisl2.New(redisl2.Options{Addrs: addrs, Mode: mode, KeyPrefix: fmt.Sprintf("t%d:", time.Now().UnixNano()), CompressAbove: 512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestTierConformanceStandalone(t *testing.T) {
	srv := redistest.Standalone(t)
	tiertest.RunWith(t, func(t *testing.T) cache.Tier {
		return client(t, "", srv.Addr).Tier()
	}, tiertest.Options{LargeBody: 1 << 20, KeepFor: 200 * time.Millisecond})
}

func TestTierConformanceCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3, true)
	tiertest.RunWith(t, func(t *testing.T) cache.Tier {
		return client(t, redisl2.ModeCluster, cl.Addrs...).Tier()
	}, tiertest.Options{LargeBody: 1 << 20, KeepFor: 200 * time.Millisecond})
}

// TestTierRejectsOtherKeys: an entry is only ever returned under its own
// key, whatever Redis holds under the hashed name.
func TestTierRejectsOtherKeys(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	tier := c.Tier()
	ctx := context.Background()
	e := tiertest.FullEntry(t, "GET http://a/x", time.Now())
	if err := tier.Set(ctx, "GET http://a/x", e); err != nil {
		t.Fatal(err)
	}
	// Overwrite every value with garbage: a decoding failure is a miss.
	keys, err := c.Redis().Do(ctx, c.Redis().B().Keys().Pattern("*:e:*").Build()).AsStrSlice()
	if err != nil || len(keys) != 1 {
		t.Fatalf("entry keys: %v %v", keys, err)
	}
	if err := c.Redis().Do(ctx, c.Redis().B().Set().Key(keys[0]).Value("zjunk").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	if got, err := tier.Get(ctx, "GET http://a/x"); got != nil || err != nil {
		t.Errorf("Get of a corrupt value = %v, %v; want a miss", got, err)
	}
}

func TestVersionsShared(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	a, b := c.Versions(), c.Versions()
	ctx := context.Background()
	bumped, err := a.Raise(ctx, map[string]uint64{"GET /x": gateway.NewVersion(0), gateway.AllVersions: gateway.NewVersion(0)})
	if err != nil || len(bumped) != 2 || bumped["GET /x"] == 0 {
		t.Fatalf("Raise = %v, %v", bumped, err)
	}
	loaded, err := b.Load(ctx)
	if err != nil || loaded["GET /x"] != bumped["GET /x"] || loaded[gateway.AllVersions] != bumped[gateway.AllVersions] {
		t.Errorf("Load = %v, %v; want %v", loaded, err, bumped)
	}
	// Versions only grow: a smaller one (a purge that lost a race) leaves
	// the greater, and the answer says which the store holds.
	after, err := b.Raise(ctx, map[string]uint64{"GET /x": bumped["GET /x"] - 1})
	if err != nil || after["GET /x"] != bumped["GET /x"] {
		t.Errorf("Raise with a smaller version = %v, %v; want the store's %d", after, err, bumped["GET /x"])
	}
}

func TestLease(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	l := c.Lease()
	ctx := context.Background()
	release, held, err := l.Acquire(ctx, "GET http://a/k", 300*time.Millisecond)
	if err != nil || !held {
		t.Fatalf("first Acquire: held=%v err=%v", held, err)
	}
	if _, held, err := l.Acquire(ctx, "GET http://a/k", time.Second); err != nil || held {
		t.Fatalf("second Acquire while held: held=%v err=%v", held, err)
	}
	// Held past its first ttl: the holder extends it while the fill runs.
	deadline := time.Now().Add(900 * time.Millisecond)
	for time.Now().Before(deadline) {
		if h, err := l.Held(ctx, "GET http://a/k"); err != nil || !h {
			t.Fatalf("lease lost while its holder runs: held=%v err=%v", h, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	release()
	if h, _ := l.Held(ctx, "GET http://a/k"); h {
		t.Error("lease still held after release")
	}
	r2, held, err := l.Acquire(ctx, "GET http://a/k", time.Second)
	if err != nil || !held {
		t.Fatalf("Acquire after release: held=%v err=%v", held, err)
	}
	release() // a stale release must not free another's lease
	if h, _ := l.Held(ctx, "GET http://a/k"); !h {
		t.Error("an old holder's release freed the new holder's lease")
	}
	r2()
}

// busMember is a joined Bus member that records what it hears.
type busMember struct {
	mu      sync.Mutex
	got     []gateway.Purge
	lost    atomic.Int64
	publish func(gateway.Purge)
}

func join(t *testing.T, b *redisl2.Bus) *busMember {
	m := &busMember{}
	pub, leave := b.Join(func(p gateway.Purge) {
		m.mu.Lock()
		m.got = append(m.got, p)
		m.mu.Unlock()
	}, func() { m.lost.Add(1) })
	m.publish = pub
	t.Cleanup(leave)
	return m
}

func (m *busMember) heard() []gateway.Purge {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]gateway.Purge(nil), m.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReady waits until a member's reader has found its place.
func waitReady(t *testing.T, b *redisl2.Bus, since time.Time) {
	t.Helper()
	waitFor(t, "the bus reader", func() bool { return b.LastSeen.Load() > since.UnixNano() })
}

func TestBusDeliversToOthers(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	start := time.Now()
	ba, bb := c.Bus(redisl2.BusOptions{Grace: 600 * time.Millisecond}), c.Bus(redisl2.BusOptions{Grace: 600 * time.Millisecond})
	a, b := join(t, ba), join(t, bb)
	waitReady(t, ba, start)
	waitReady(t, bb, start)
	waitFor(t, "each member to hear both nodes' heartbeats", func() bool { return len(ba.Nodes()) == 2 && len(bb.Nodes()) == 2 })
	a.publish(gateway.Purge{Tags: []string{"t1"}})
	b.publish(gateway.Purge{Routes: []string{"GET /r"}, Versions: map[string]uint64{"GET /r": 42}})
	waitFor(t, "both purges", func() bool { return len(a.heard()) == 1 && len(b.heard()) == 1 })
	if got := b.heard()[0]; len(got.Tags) != 1 || got.Tags[0] != "t1" {
		t.Errorf("B heard %+v", got)
	}
	if got := a.heard()[0]; got.Versions["GET /r"] != 42 {
		t.Errorf("A heard %+v, want the versions carried", got)
	}
	if a.lost.Load()+b.lost.Load() != 0 {
		t.Error("lost called on a healthy bus")
	}
}

// TestBusReplaysAfterAnOutage: purges published while a member's Redis
// connection was frozen reach it when it is back, in order, and it is not
// told it lost any.
func TestBusReplaysAfterAnOutage(t *testing.T) {
	srv := redistest.Standalone(t)
	start := time.Now()
	c := client(t, "", srv.Addr) // both members on one stream
	ba, bb := c.Bus(redisl2.BusOptions{Grace: time.Hour}), c.Bus(redisl2.BusOptions{Grace: time.Hour})
	a, b := join(t, ba), join(t, bb)
	waitReady(t, ba, start)
	waitReady(t, bb, start)
	srv.Freeze()
	for i := range 5 {
		a.publish(gateway.Purge{Tags: []string{fmt.Sprint(i)}})
	}
	srv.Thaw()
	waitFor(t, "the replay", func() bool { return len(b.heard()) == 5 })
	for i, p := range b.heard() {
		if p.Tags[0] != fmt.Sprint(i) {
			t.Errorf("purge %d: %v, out of order", i, p.Tags)
		}
	}
	if n := b.lost.Load(); n != 0 {
		t.Errorf("lost called %d times after a full replay", n)
	}
}

// TestBusGapIsLost: a hole in the sequence (an entry the member never
// read) and a Redis that restarted without its data both make the member
// drop what it holds.
func TestBusGapIsLost(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	start := time.Now()
	ba, bb := c.Bus(redisl2.BusOptions{Grace: time.Hour}), c.Bus(redisl2.BusOptions{Grace: time.Hour})
	a, b := join(t, ba), join(t, bb)
	waitReady(t, ba, start)
	waitReady(t, bb, start)
	a.publish(gateway.Purge{Tags: []string{"before"}})
	waitFor(t, "the first purge", func() bool { return len(b.heard()) == 1 })

	// A hole: the sequence jumps, as when entries were trimmed unread.
	keys, err := c.Redis().Do(context.Background(), c.Redis().B().Keys().Pattern("*{bus}:seq").Build()).AsStrSlice()
	if err != nil || len(keys) != 1 {
		t.Fatalf("seq key: %v %v", keys, err)
	}
	srv.Do(t, "INCRBY", keys[0], "3")
	a.publish(gateway.Purge{Tags: []string{"after-hole"}})
	waitFor(t, "the hole to be noticed", func() bool { return b.lost.Load() >= 1 && len(b.heard()) == 2 })

	// History lost: Redis restarts empty.
	lostBefore := b.lost.Load()
	srv.Kill()
	srv.Restart(t)
	a.publish(gateway.Purge{Tags: []string{"after-restart"}})
	waitFor(t, "the lost history to be noticed", func() bool { return b.lost.Load() > lostBefore })
}

func TestHotSet(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	ctx := context.Background()
	if err := c.PublishHot(ctx, []string{"/a", "/b", "/c"}, []float64{1, 30, 5}); err != nil {
		t.Fatal(err)
	}
	if err := c.PublishHot(ctx, []string{"/d"}, []float64{10}); err != nil { // another node
		t.Fatal(err)
	}
	got, err := c.Hot(ctx, 3)
	if err != nil || fmt.Sprint(got) != "[/b /d /c]" {
		t.Errorf("Hot(3) = %v, %v; want the three hottest of all nodes, hottest first", got, err)
	}
}

// TestBusGraceWhenCutOff: a member whose Redis stops answering drops what
// it holds once the grace has passed (purges may be passing it by), and
// again each grace while it lasts.
func TestBusGraceWhenCutOff(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	start := time.Now()
	bus := c.Bus(redisl2.BusOptions{Grace: 500 * time.Millisecond})
	m := join(t, bus)
	waitReady(t, bus, start)
	if n := m.lost.Load(); n != 0 {
		t.Fatalf("lost %d times on a healthy bus", n)
	}
	srv.Freeze()
	defer srv.Thaw()
	waitFor(t, "lost after the grace", func() bool { return m.lost.Load() >= 2 })
}

// TestSentinelFailover: in sentinel mode the tier follows a failover: after
// the master is killed and a replica promoted, writes and reads work again
// (calls in between fail fast, under their deadline: a miss, never a hang).
func TestSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t)
	c2, err := redisl2.New(redisl2.Options{Addrs: s.Addrs, Mode: redisl2.ModeSentinel, MasterName: s.MasterName, KeyPrefix: "sentinel:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c2.Close)
	tier := c2.Tier()
	waitFor(t, "the client to connect", func() bool { return c2.Ping(context.Background()) == nil })
	set := func(key string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		return tier.Set(ctx, key, tiertest.FullEntry(t, key, time.Now()))
	}
	if err := set("GET http://a/before"); err != nil {
		t.Fatal(err)
	}
	s.Master.Kill()
	s.WaitMaster(t, s.Replica.Addr)
	// Each call is bounded while the client finds the new master.
	waitFor(t, "writes to the promoted replica", func() bool {
		start := time.Now()
		err := set("GET http://a/after")
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a call took %s during the failover", d)
		}
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if e, err := tier.Get(ctx, "GET http://a/after"); err != nil || e == nil {
		t.Errorf("Get after the failover: %v, %v", e, err)
	}
}

// TestManyLeasesOneExtender: a node with many fills in flight holds as
// many leases; they are all extended while held (past their ttl), by one
// goroutine, not one each, which is gone once none is held.
func TestManyLeasesOneExtender(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	l := c.Lease()
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 200
	var releases []func()
	for i := range n {
		release, held, err := l.Acquire(ctx, fmt.Sprintf("GET http://a/%d", i), 300*time.Millisecond)
		if err != nil || !held {
			t.Fatalf("Acquire %d: held=%v err=%v", i, held, err)
		}
		releases = append(releases, release)
	}
	if got := extenders(); got != 1 {
		t.Errorf("%d lease extenders with %d leases held; want 1", got, n)
	}
	time.Sleep(900 * time.Millisecond) // three ttls
	for i := range n {
		if h, err := l.Held(ctx, fmt.Sprintf("GET http://a/%d", i)); err != nil || !h {
			t.Fatalf("lease %d lost while held: held=%v err=%v", i, h, err)
		}
	}
	for _, r := range releases {
		r()
	}
	for i := range n {
		if h, _ := l.Held(ctx, fmt.Sprintf("GET http://a/%d", i)); h {
			t.Fatalf("lease %d held after release", i)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for extenders() > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := extenders(); got != 0 {
		t.Errorf("%d lease extenders after every lease was released; want none", got)
	}
}

// extenders counts the goroutines extending leases.
func extenders() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "redisl2.(*Client).extendLeases(")
}

// TestLeaseTakenOverIsNotExtended: a lease that expired and was taken by
// another holder is left to it: the old holder's extensions and release
// do not touch it.
func TestLeaseTakenOverIsNotExtended(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	l := c.Lease()
	ctx := context.Background()
	release, held, err := l.Acquire(ctx, "GET http://a/k", 150*time.Millisecond)
	if err != nil || !held {
		t.Fatalf("Acquire: held=%v err=%v", held, err)
	}
	// Another holder takes the key's lease (as after an expiry), with a
	// short life of its own.
	rc := c.Redis()
	var key string
	keys, err := rc.Do(ctx, rc.B().Keys().Pattern("*:l:*").Build()).AsStrSlice()
	if err != nil || len(keys) != 1 {
		t.Fatalf("lease keys %q, %v; want one", keys, err)
	}
	key = keys[0]
	if err := rc.Do(ctx, rc.B().Set().Key(key).Value("other").PxMilliseconds(400).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	// The old holder's extender, at its next round (a third of its ttl),
	// finds the lease taken and gives it up: holding no other, it stops.
	// Until it has, the other holder's lease proves nothing: it may not
	// have been tried yet.
	waitFor(t, "the old holder's extender to give up the taken lease", func() bool { return extenders() == 0 })
	// With nothing left to extend it, the other holder's lease ends with
	// its own life.
	waitFor(t, "the other holder's lease to expire", func() bool {
		h, err := l.Held(ctx, "GET http://a/k")
		return err == nil && !h
	})
	if err := rc.Do(ctx, rc.B().Set().Key(key).Value("other").PxMilliseconds(10_000).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	release()
	if h, _ := l.Held(ctx, "GET http://a/k"); !h {
		t.Error("the old holder's release freed the other holder's lease")
	}
}
