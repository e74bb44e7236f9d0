package aside

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/maypok86/otter/v2"
)

// smallBook is the value of the hit benchmarks: a small struct.
type smallBook struct {
	ID    int
	Title string
	Year  int
}

var dune = smallBook{ID: 42, Title: "Dune", Year: 1965}

func loadDune(context.Context) (smallBook, error) { return dune, nil }

func benchCache(b *testing.B) *Cache[smallBook] {
	c, err := New(Options[smallBook]{Name: "bench", TTL: time.Hour, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if _, err := c.Get(context.Background(), "42", loadDune); err != nil {
		b.Fatal(err)
	}
	return c
}

// otterCache is otter v2 used directly for the same job: bounded by
// weight, entries expiring, values loaded through a Loader on a miss; with
// otter's default clock, or with a CoarseClock as a Cache uses by default.
func otterCache(b *testing.B, coarse bool) (*otter.Cache[string, smallBook], otter.Loader[string, smallBook]) {
	o := &otter.Options[string, smallBook]{
		MaximumWeight:    64 << 20,
		Weigher:          func(string, smallBook) uint32 { return 64 },
		ExpiryCalculator: otter.ExpiryWriting[string, smallBook](time.Hour),
	}
	if coarse {
		clk := otter.NewCoarseClock(time.Millisecond)
		b.Cleanup(clk.Stop)
		o.Clock = clk
	}
	c, err := otter.New(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.StopAllGoroutines() })
	l := otter.LoaderFunc[string, smallBook](func(ctx context.Context, _ string) (smallBook, error) { return loadDune(ctx) })
	if _, err := c.Get(context.Background(), "42", l); err != nil {
		b.Fatal(err)
	}
	return c, l
}

var clocks = []struct {
	name   string
	coarse bool
}{{"default_clock", false}, {"coarse_clock", true}}

// BenchmarkGetHit is an L1 hit of a small struct: the hit path's cost.
// Compare with BenchmarkOtterGet.
func BenchmarkGetHit(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if v, err := c.Get(ctx, "42", loadDune); err != nil || v.ID != 42 {
			b.Fatal(v, err)
		}
	}
}

func BenchmarkOtterGet(b *testing.B) {
	for _, clk := range clocks {
		b.Run(clk.name, func(b *testing.B) {
			c, l := otterCache(b, clk.coarse)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if v, err := c.Get(ctx, "42", l); err != nil || v.ID != 42 {
					b.Fatal(v, err)
				}
			}
		})
	}
}

func BenchmarkGetHitParallel(b *testing.B) {
	c := benchCache(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if v, err := c.Get(ctx, "42", loadDune); err != nil || v.ID != 42 {
				b.Error(v, err)
				return
			}
		}
	})
}

func BenchmarkOtterGetParallel(b *testing.B) {
	for _, clk := range clocks {
		b.Run(clk.name, func(b *testing.B) {
			c, l := otterCache(b, clk.coarse)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if v, err := c.Get(ctx, "42", l); err != nil || v.ID != 42 {
						b.Error(v, err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGetMiss is a miss whose loader answers at once (no L2): the
// cost of a load's machinery (flight, fill and loader goroutines, encoding
// for the weight, store).
func BenchmarkGetMiss(b *testing.B) {
	c := benchCache(b)
	ctx := context.Background()
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		key := keys[i%len(keys)]
		i++
		if i%len(keys) == 0 {
			b.StopTimer()
			c.l1.InvalidateAll()
			b.StartTimer()
		}
		if _, err := c.Get(ctx, key, loadDune); err != nil {
			b.Fatal(err)
		}
	}
}
