package memcachel2_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/tiertest"
	"github.com/moatproxy/moat/memcachel2"
	"github.com/moatproxy/moat/memcachel2/memcachedtest"
)

// newTier returns a tier over servers with a key prefix of its own, so that
// tests sharing servers do not meet, and a Timeout generous enough for a
// loaded machine under -race. It is closed when the test ends.
func newTier(t testing.TB, o memcachel2.Options, servers ...*memcachedtest.Server) *memcachel2.Tier {
	t.Helper()
	for _, s := range servers {
		o.Servers = append(o.Servers, s.Addr())
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = fmt.Sprintf("t%d:", time.Now().UnixNano())
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	tier, err := memcachel2.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tier.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tier
}

// conformance is how the suite runs against memcached's default limits:
// an item is at most 1 MiB, so the large entry is a little smaller, and a
// body of zeros (which compresses) must exceed 4 × MaxObjectSize encoded
// to be refused.
var conformance = tiertest.Options{LargeBody: 900 << 10, TooLargeBody: 5 << 20}

func TestConformanceSingleServer(t *testing.T) {
	srv := memcachedtest.Start(t)
	tiertest.RunWith(t, func(t *testing.T) cache.Tier {
		return newTier(t, memcachel2.Options{CompressAbove: 512}, srv)
	}, conformance)
}

func TestConformancePoolOfThree(t *testing.T) {
	pool := []*memcachedtest.Server{memcachedtest.Start(t), memcachedtest.Start(t), memcachedtest.Start(t)}
	tiertest.RunWith(t, func(t *testing.T) cache.Tier {
		return newTier(t, memcachel2.Options{CompressAbove: 512}, pool...)
	}, conformance)
}

// TestIncompressibleTooLarge: an entry that compression cannot bring
// under MaxObjectSize is refused, and what its key held goes with it (Set
// replaces).
func TestIncompressibleTooLarge(t *testing.T) {
	tier := newTier(t, memcachel2.Options{}, memcachedtest.Start(t))
	ctx := context.Background()
	const key = "GET http://api.example/big"
	small := tiertest.FullEntry(t, key, time.Now())
	if err := tier.Set(ctx, key, small); err != nil {
		t.Fatal(err)
	}
	big := tiertest.FullEntry(t, key, time.Now())
	big.Body = make([]byte, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big.Body {
		big.Body[i] = byte(rng.Uint32())
	}
	if err := tier.Set(ctx, key, big); !errors.Is(err, cache.ErrTooLarge) {
		t.Fatalf("Set of a 1 MiB random body: err = %v, want cache.ErrTooLarge", err)
	}
	if got, err := tier.Get(ctx, key); got != nil || err != nil {
		t.Fatalf("Get after a refused Set = (%v, %v), want (nil, nil): the older entry must go", got, err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []struct {
		name string
		o    memcachel2.Options
	}{
		{"no_servers", memcachel2.Options{}},
		{"no_port", memcachel2.Options{Servers: []string{"cache-1"}}},
		{"empty_port", memcachel2.Options{Servers: []string{"cache-1:"}}},
		{"listed_twice", memcachel2.Options{Servers: []string{"cache-1:11211", "cache-1:11211"}}},
		{"negative_timeout", memcachel2.Options{Servers: []string{"cache-1:11211"}, Timeout: -time.Second}},
		{"prefix_with_space", memcachel2.Options{Servers: []string{"cache-1:11211"}, KeyPrefix: "my app:"}},
		{"prefix_with_nul", memcachel2.Options{Servers: []string{"cache-1:11211"}, KeyPrefix: "a\x00"}},
		{"prefix_not_ascii", memcachel2.Options{Servers: []string{"cache-1:11211"}, KeyPrefix: "é:"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := memcachel2.New(c.o); !errors.Is(err, memcachel2.ErrConfig) {
				t.Errorf("New(%+v): err = %v, want ErrConfig", c.o, err)
			}
		})
	}
	tier, err := memcachel2.New(memcachel2.Options{Servers: []string{"cache-1:11211", "/run/memcached.sock"}})
	if err != nil {
		t.Fatalf("New with a host:port and a socket: %v", err)
	}
	if err := tier.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := tier.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tier.Get(context.Background(), "k"); !errors.Is(err, memcachel2.ErrClosed) {
		t.Errorf("Get after Close: err = %v, want ErrClosed", err)
	}
}

// New checks the options and connects to nothing: a pool is configured by
// the names every node lists, and a key's server is chosen by them.
func ExampleNew() {
	_, err := memcachel2.New(memcachel2.Options{Servers: []string{"cache-1:11211", "cache-2:11211", "cache-1:11211"}})
	fmt.Println(err)

	tier, err := memcachel2.New(memcachel2.Options{
		Servers: []string{"cache-1:11211", "cache-2:11211", "cache-3:11211"},
		Timeout: 20 * time.Millisecond,
	})
	if err != nil {
		panic(err)
	}
	defer tier.Close()
	var _ cache.Tier = tier // not a cache.Invalidator: purges travel on the Bus
	fmt.Println("ok")
	// Output:
	// memcachel2: invalid options: Servers[2]: "cache-1:11211" listed twice
	// ok
}
