package cache_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
)

// countingTier is a custom tier: it wraps another and counts lookups. Any
// cache.Tier can be moat's L2 (gateway.Options.L2); one that is also a
// cache.Invalidator applies purges itself, as the Redis tier does.
type countingTier struct {
	cache.Tier
	gets atomic.Int64
}

func (t *countingTier) Get(ctx context.Context, key string) (*cache.Entry, error) {
	t.gets.Add(1)
	return t.Tier.Get(ctx, key)
}

func Example_customTier() {
	mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer mem.Close()
	tier := &countingTier{Tier: mem}
	ctx := context.Background()
	now := time.Now()
	e := &cache.Entry{ID: cache.NewEntryID(), Key: "GET http://api.example/x", Status: 200, Body: []byte("hello"),
		ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Minute)}
	if err := tier.Set(ctx, e.Key, e); err != nil {
		panic(err)
	}
	got, _ := tier.Get(ctx, e.Key)
	miss, _ := tier.Get(ctx, "GET http://api.example/y")
	fmt.Println(string(got.Body), miss == nil, tier.gets.Load())
	// Output: hello true 2
}
