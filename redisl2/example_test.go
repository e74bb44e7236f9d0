package redisl2_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// exampleAddr is the redis-server the examples use, started by TestMain
// (it fails, not skips, without redis-server: make test installs it).
var exampleAddr string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redisl2-examples")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s, err := redistest.Launch(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redisl2 examples need redis-server (make test installs it):", err)
		os.Exit(1)
	}
	exampleAddr = s.Addr
	code := m.Run()
	s.Kill()
	os.RemoveAll(dir)
	os.Exit(code)
}

// Two nodes' clients share one tier: what one stores, the other reads; a
// tag purge through either removes it for both.
func ExampleClient_Tier() {
	a, err := redisl2.New(redisl2.Options{Addrs: []string{exampleAddr}, KeyPrefix: "example:"})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := redisl2.New(redisl2.Options{Addrs: []string{exampleAddr}, KeyPrefix: "example:"})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	ctx := context.Background()
	now := time.Now()
	e := &cache.Entry{Key: "GET http://api.example/books/1", Status: 200, Body: []byte("book 1"), Tags: []string{"book:1"},
		RequestTime: now, ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Minute)}
	if err := a.Tier().Set(ctx, e.Key, e); err != nil {
		panic(err)
	}
	got, _ := b.Tier().Get(ctx, "GET http://api.example/books/1")
	fmt.Printf("node b reads: %s\n", got.Body)

	if _, err := b.Tier().Invalidate(ctx, cache.Invalidation{Tags: []string{"book:1"}}); err != nil {
		panic(err)
	}
	got, _ = a.Tier().Get(ctx, "GET http://api.example/books/1")
	fmt.Println("after the purge, node a reads:", got)
	// Output:
	// node b reads: book 1
	// after the purge, node a reads: <nil>
}
