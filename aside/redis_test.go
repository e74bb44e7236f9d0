package aside

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// redisFleet returns n Caches that share a real Redis as their L2, lease
// and bus, each with a client of its own (as separate processes would),
// under a key prefix of the test's own, once every node's bus hears the
// others.
func redisFleet(t *testing.T, srv *redistest.Server, n int, o Options[book]) ([]*Cache[book], func() *redisl2.Client) {
	t.Helper()
	prefix := fmt.Sprintf("t%d:", time.Now().UnixNano())
	client := func() *redisl2.Client {
		c, err := redisl2.New(redisl2.Options{Addrs: []string{srv.Addr}, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	var nodes []*Cache[book]
	var buses []*redisl2.Bus
	for range n {
		rc := client()
		bus := rc.Bus(redisl2.BusOptions{Grace: 600 * time.Millisecond, Logger: quiet})
		o := o
		o.L2, o.Lease, o.Bus = rc.Tier(), rc.Lease(), bus
		o.L2Timeout = time.Second // -race on a loaded machine
		nodes = append(nodes, newCache(t, o))
		buses = append(buses, bus)
	}
	eventually(t, "every node's bus hears every node", func() bool {
		for _, b := range buses {
			if len(b.Nodes()) < n {
				return false
			}
		}
		return true
	})
	return nodes, client
}

func TestRedisFleet(t *testing.T) {
	srv := redistest.Standalone(t)
	ctx := context.Background()

	t.Run("stampede_is_one_load", func(t *testing.T) {
		nodes, _ := redisFleet(t, srv, 2, Options[book]{})
		stampede(t, nodes, 50)
	})

	t.Run("l2_fill_serves_other_node", func(t *testing.T) {
		nodes, _ := redisFleet(t, srv, 2, Options[book]{Codec: Msgpack[book](), Tags: bookTags})
		want := book{ID: 1, Title: "dune", Tags: []string{"sf"}}
		_, _ = nodes[0].Get(ctx, "1", func(context.Context) (book, error) { return want, nil })
		got, err := nodes[1].Get(ctx, "1", never(t))
		if err != nil || got.Title != want.Title || len(got.Tags) != 1 {
			t.Errorf("B.Get = %+v, %v; want %+v from L2", got, err, want)
		}
	})

	t.Run("invalidate_reaches_other_node_and_l2", func(t *testing.T) {
		nodes, client := redisFleet(t, srv, 2, Options[book]{Tags: bookTags})
		a, b := nodes[0], nodes[1]
		var l loader
		for _, k := range []string{"1", "2"} {
			_, _ = a.Get(ctx, k, l.load)
			_, _ = b.Get(ctx, k, never(t))
		}
		start := time.Now()
		if err := a.Invalidate(ctx, "book:1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "B drops book:1", func() bool { _, ok := peek(b, "1"); return !ok })
		t.Logf("B dropped book:1 %v after Invalidate was called on A", time.Since(start))
		if _, ok := peek(b, "2"); !ok {
			t.Errorf("B lost book:2")
		}
		if e, err := client().Tier().Get(ctx, a.l2Key("1")); e != nil || err != nil {
			t.Errorf("L2 Get after the purge = %v, %v; want a miss", e, err)
		}
		if v, _ := b.Get(ctx, "1", l.load); v.Title != "v3" {
			t.Errorf("B.Get after the purge = %q; want a new load", v.Title)
		}
	})

	t.Run("purge_published_by_a_proxy", func(t *testing.T) {
		nodes, client := redisFleet(t, srv, 2, Options[book]{Tags: bookTags})
		var l loader
		for _, c := range nodes {
			_, _ = c.Get(ctx, "1", l.load)
			_, _ = c.Get(ctx, "2", l.load)
		}
		// A moat proxy's node on the same bus: it publishes what its
		// purge API is given.
		proxyBus := client().Bus(redisl2.BusOptions{Logger: quiet})
		publish, leave := proxyBus.Join(func(gateway.Purge) {}, func() {})
		t.Cleanup(leave)
		eventually(t, "the proxy's bus reads the stream", func() bool { return len(proxyBus.Nodes()) > 0 })
		publish(gateway.Purge{Tags: []string{"book:1"}})
		for _, c := range nodes {
			eventually(t, "the node drops book:1", func() bool { _, ok := peek(c, "1"); return !ok })
		}
		publish(gateway.Purge{All: true})
		for _, c := range nodes {
			eventually(t, "the node drops everything", func() bool { return c.Stats().Entries == 0 })
		}
	})
}
