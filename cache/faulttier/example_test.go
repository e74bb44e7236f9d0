package faulttier_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/faulttier"
)

// A shared tier goes down, and comes back.
func ExampleTier() {
	ctx := context.Background()
	l2, _ := cache.NewMemory(cache.MemoryOptions{})
	defer l2.Close()
	ft := faulttier.New(l2)
	e := &cache.Entry{Key: "k", Status: 200, KeepUntil: time.Now().Add(time.Hour)}

	ft.Inject(faulttier.Fault{Err: faulttier.ErrInjected}, faulttier.OpSet)
	err := ft.Set(ctx, "k", e)
	fmt.Println("Set while down:", errors.Is(err, faulttier.ErrInjected))

	ft.Heal()
	_ = ft.Set(ctx, "k", e)
	got, _ := ft.Get(ctx, "k")
	fmt.Println("Get after heal:", got.Status)

	c := ft.Counts()
	fmt.Println("Set calls:", c.Calls[faulttier.OpSet], "faulted:", c.Faulted[faulttier.OpSet])
	// Output:
	// Set while down: true
	// Get after heal: 200
	// Set calls: 2 faulted: 1
}
