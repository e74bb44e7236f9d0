package redisl2_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/policy"
	"github.com/moatproxy/moat/redisl2"
)

// Benchmarks of the Redis L2 (docs/benchmarks.md, "Redis L2"). Each starts
// its own redis-server; run them with
//
//	go test -run='^$' -bench=. -benchmem ./redisl2

// benchParallelism: 2 × 32 = 64 goroutines on this 2-core machine, as the
// c64 scenarios of bench/.
const benchParallelism = 32

// BenchmarkClientGet compares the two Redis clients the issue names, on
// the same server: a GET of a 1 KiB value from 64 goroutines. rueidis
// pipelines automatically; go-redis uses a pool of connections.
func BenchmarkClientGet(b *testing.B) {
	srv := redistest.Standalone(b)
	value := bytes.Repeat([]byte("x"), 1024)
	b.Run("rueidis", func(b *testing.B) {
		c, err := redisl2.New(redisl2.Options{Addrs: []string{srv.Addr}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		rc := c.Redis()
		ctx := context.Background()
		waitRedis(b, c)
		if err := rc.Do(ctx, rc.B().Set().Key("k").Value(string(value)).Build()).Error(); err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(benchParallelism)
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := rc.Do(ctx, rc.B().Get().Key("k").Build()).AsBytes(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("rueidis-deadline", func(b *testing.B) {
		// As moat calls it: each call under its own deadline.
		c, err := redisl2.New(redisl2.Options{Addrs: []string{srv.Addr}})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		rc := c.Redis()
		waitRedis(b, c)
		b.SetParallelism(benchParallelism)
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				_, err := rc.Do(ctx, rc.B().Get().Key("k").Build()).AsBytes()
				cancel()
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("go-redis", func(b *testing.B) {
		c := goredis.NewClient(&goredis.Options{Addr: srv.Addr, PoolSize: 64, MaxRetries: -1, ContextTimeoutEnabled: true})
		defer c.Close()
		ctx := context.Background()
		if err := c.Set(ctx, "k", value, 0).Err(); err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(benchParallelism)
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Get(ctx, "k").Bytes(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func waitRedis(b testing.TB, c *redisl2.Client) {
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()) != nil {
		if time.Now().After(deadline) {
			b.Fatal("redis never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nopTier stores nothing: a gateway with it as L1 answers every hit from L2.
type nopTier struct{}

func (nopTier) Get(context.Context, string) (*cache.Entry, error) { return nil, nil }
func (nopTier) Set(context.Context, string, *cache.Entry) error   { return nil }
func (nopTier) Delete(context.Context, string) error              { return nil }

type discard struct {
	h http.Header
	n int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// BenchmarkHit is a hit of a 1 KiB response through the whole handler,
// from 64 goroutines, three ways: moat's L1 (memory), moat's L2 with L1
// off (every hit a Redis GET, decoded and promoted), and the common
// "Redis in front of the API" design (a handler that GETs the body from
// Redis on every request and writes it).
func BenchmarkHit(b *testing.B) {
	srv := redistest.Standalone(b)
	body := bytes.Repeat([]byte("y"), 1024)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=3600")
		w.Write(body)
	}))
	defer origin.Close()
	u, _ := url.Parse(origin.URL)
	tbl, err := policy.New([]policy.Policy{{Pattern: "GET /items/{id}"}})
	if err != nil {
		b.Fatal(err)
	}
	c, err := redisl2.New(redisl2.Options{Addrs: []string{srv.Addr}, KeyPrefix: "bench:"})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	waitRedis(b, c)
	run := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest("GET", "http://api.example/items/1", nil)
		h.ServeHTTP(&discard{h: http.Header{}}, req) // the fill
		deadline := time.Now().Add(10 * time.Second)
		for { // until L2 holds it
			d := &discard{h: http.Header{}}
			h.ServeHTTP(d, req.Clone(context.Background()))
			if d.h.Get("X-Cache") == "HIT" {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("never a hit")
			}
			time.Sleep(5 * time.Millisecond)
		}
		b.SetParallelism(benchParallelism)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			d := &discard{h: http.Header{}}
			r := req.Clone(context.Background())
			for pb.Next() {
				clear(d.h)
				h.ServeHTTP(d, r)
				if d.h.Get("X-Cache") != "HIT" {
					b.Errorf("X-Cache %q", d.h.Get("X-Cache"))
					return
				}
			}
		})
	}
	b.Run("moat-L1", func(b *testing.B) {
		h, err := gateway.New(gateway.Options{Origin: u, Policies: tbl, L2: c.Tier(), L2Timeout: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		run(b, h)
	})
	b.Run("moat-L2-only", func(b *testing.B) {
		h, err := gateway.New(gateway.Options{Origin: u, Policies: tbl, Tier: nopTier{}, L2: c.Tier(), L2Timeout: 50 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		run(b, h)
	})
	b.Run("redis-per-request", func(b *testing.B) {
		rc := c.Redis()
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v, err := rc.Do(r.Context(), rc.B().Get().Key("naive:"+r.URL.Path).Build()).AsBytes()
			if err != nil {
				resp, err := http.Get(origin.URL + r.URL.Path)
				if err != nil {
					http.Error(w, err.Error(), 502)
					return
				}
				var buf bytes.Buffer
				buf.ReadFrom(resp.Body)
				resp.Body.Close()
				v = buf.Bytes()
				rc.Do(r.Context(), rc.B().Set().Key("naive:"+r.URL.Path).Value(string(v)).ExSeconds(3600).Build())
				w.Header().Set("X-Cache", "MISS")
			} else {
				w.Header().Set("X-Cache", "HIT")
			}
			w.Header().Set("Content-Type", "text/plain")
			w.Write(v)
		})
		run(b, h)
	})
}

// BenchmarkPurgePropagation is the time from a purge published on one
// node's bus to its delivery on two other nodes (three members of one
// bus), as p50 and p99 over b.N purges.
func BenchmarkPurgePropagation(b *testing.B) {
	srv := redistest.Standalone(b)
	c, err := redisl2.New(redisl2.Options{Addrs: []string{srv.Addr}, KeyPrefix: "prop:"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close) // after the members leave (cleanups run last first)
	waitRedis(b, c)
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	var delivered atomic.Int64
	join := func() func(gateway.Purge) {
		bus := c.Bus(redisl2.BusOptions{Grace: time.Minute})
		start := time.Now()
		pub, leave := bus.Join(func(p gateway.Purge) {
			mu.Lock()
			lat = append(lat, time.Since(sent[p.Tags[0]]))
			mu.Unlock()
			delivered.Add(1)
		}, func() {})
		b.Cleanup(leave)
		for bus.LastSeen.Load() <= start.UnixNano() {
			time.Sleep(time.Millisecond)
		}
		return pub
	}
	pub := join()
	join()
	join()
	b.ResetTimer()
	for i := range b.N {
		tag := fmt.Sprint(i)
		mu.Lock()
		sent[tag] = time.Now()
		mu.Unlock()
		pub(gateway.Purge{Tags: []string{tag}})
		for delivered.Load() < int64(2*(i+1)) {
			time.Sleep(20 * time.Microsecond)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkTierSet: an L2 write of a fresh 1 KiB fill (indexes, the
// fenced store, the tags' fence check), one caller at a time and from 64
// goroutines, each on keys of its own.
func BenchmarkTierSet(b *testing.B) {
	srv := redistest.Standalone(b)
	c := client(b, "", srv.Addr)
	waitRedis(b, c)
	tier := c.Tier()
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 1024)
	entry := func(key string) *cache.Entry {
		now := time.Now()
		return &cache.Entry{ID: cache.NewEntryID(), Key: key, Status: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: body, RequestTime: now, ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Hour), Tags: []string{"book:1"}}
	}
	for _, par := range []int{0, benchParallelism} {
		b.Run(fmt.Sprintf("par%d", par), func(b *testing.B) {
			var n atomic.Int64
			b.ReportAllocs()
			if par == 0 {
				for b.Loop() {
					key := fmt.Sprintf("GET http://api.example/books/%d", n.Add(1)%1000)
					if err := tier.Set(ctx, key, entry(key)); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("GET http://api.example/books/%d", n.Add(1)%1000)
					if err := tier.Set(ctx, key, entry(key)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
