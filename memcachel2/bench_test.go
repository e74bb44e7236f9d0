package memcachel2_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/memcachel2"
	"github.com/moatproxy/moat/memcachel2/memcachedtest"
)

// Benchmarks of the Memcached L2, against a memcached of their own, with
// an entry as an API answers it (1 KiB of JSON, a few header fields) and
// each call under its own deadline, as the gateway makes it. Run them with
//
//	go test -run='^$' -bench=. -benchmem ./memcachel2

func benchEntry(key string) *cache.Entry {
	now := time.Now()
	return &cache.Entry{
		Key: key, Status: 200, ID: cache.NewEntryID(),
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Cache-Control": {"public, max-age=60"},
			"Etag":          {`"v1"`},
			"Date":          {now.UTC().Format(http.TimeFormat)},
		},
		ETag: `"v1"`, Body: bytes.Repeat([]byte(`{"id":1,"name":"x"},`), 52),
		RequestTime: now, ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Hour),
		Tags: []string{"product:1"},
	}
}

func BenchmarkGet(b *testing.B) {
	tier := newTier(b, memcachel2.Options{}, memcachedtest.Start(b))
	const key = "GET http://api.example/products/1\x00gzip"
	if err := tier.Set(context.Background(), key, benchEntry(key)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		e, err := tier.Get(ctx, key)
		cancel()
		if err != nil || e == nil {
			b.Fatalf("Get = %v, %v", e, err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	tier := newTier(b, memcachel2.Options{}, memcachedtest.Start(b))
	const key = "GET http://api.example/products/1\x00gzip"
	e := benchEntry(key)
	b.ReportAllocs()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		err := tier.Set(ctx, key, e)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetParallel is BenchmarkGet from as many goroutines as
// GOMAXPROCS, as the gateway's requests call it.
func BenchmarkGetParallel(b *testing.B) {
	tier := newTier(b, memcachel2.Options{}, memcachedtest.Start(b))
	const key = "GET http://api.example/products/1\x00gzip"
	if err := tier.Set(context.Background(), key, benchEntry(key)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			e, err := tier.Get(ctx, key)
			cancel()
			if err != nil || e == nil {
				b.Errorf("Get = %v, %v", e, err)
				return
			}
		}
	})
}

// BenchmarkRawGet is gomemcache's own Get of an item of the same size, for
// what the tier adds (its bounded call, the key check, decoding).
func BenchmarkRawGet(b *testing.B) {
	srv := memcachedtest.Start(b)
	c := memcache.New(srv.Addr())
	if err := c.Set(&memcache.Item{Key: "raw", Value: bytes.Repeat([]byte("x"), 1200)}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Get("raw"); err != nil {
			b.Fatal(err)
		}
	}
}
