package hotkeys

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkObserve measures the per-request cost. "zipf" is the steady
// state of a gateway: 10,000 keys, all tracked, Zipf-distributed; "one_key"
// is the worst contention, every goroutine on one counter; "scan" is every
// request a new key, so every Observe evicts.
func BenchmarkObserve(b *testing.B) {
	const nkeys = 10_000
	keys := make([]string, nkeys)
	urls := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("GET http://api.example/products/%d?page=2", i)
		urls[i] = fmt.Sprintf("/products/%d?page=2", i)
	}
	r := rand.New(rand.NewPCG(1, 1))
	z := rand.NewZipf(r, 1.1, 1, nkeys-1)
	seq := make([]int, 1<<16)
	for i := range seq {
		seq[i] = int(z.Uint64())
	}

	b.Run("zipf_parallel", func(b *testing.B) {
		tr := New(Options{Capacity: nkeys})
		for i := range keys {
			tr.Observe(keys[i], urls[i])
		}
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				k := seq[i&(len(seq)-1)]
				tr.Observe(keys[k], urls[k])
				i++
			}
		})
	})
	b.Run("zipf_parallel_observe_at", func(b *testing.B) {
		tr := New(Options{Capacity: nkeys})
		for i := range keys {
			tr.Observe(keys[i], urls[i])
		}
		now := time.Now()
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(7919))
			for pb.Next() {
				k := seq[i&(len(seq)-1)]
				tr.ObserveAt(keys[k], urls[k], now)
				i++
			}
		})
	})
	b.Run("one_key_parallel", func(b *testing.B) {
		tr := New(Options{})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tr.Observe(keys[0], urls[0])
			}
		})
	})
	b.Run("zipf_serial", func(b *testing.B) {
		tr := New(Options{Capacity: nkeys})
		for i := range keys {
			tr.Observe(keys[i], urls[i])
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := seq[i&(len(seq)-1)]
			tr.Observe(keys[k], urls[k])
			i++
		}
	})
	b.Run("zipf_serial_observe_at", func(b *testing.B) {
		tr := New(Options{Capacity: nkeys})
		for i := range keys {
			tr.Observe(keys[i], urls[i])
		}
		now := time.Now()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := seq[i&(len(seq)-1)]
			tr.ObserveAt(keys[k], urls[k], now)
			i++
		}
	})
	b.Run("scan_serial", func(b *testing.B) {
		tr := New(Options{Capacity: 1000})
		scan := make([]string, 1<<16)
		for i := range scan {
			scan[i] = fmt.Sprintf("scan/%d", i)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			k := scan[i&(len(scan)-1)]
			tr.Observe(k, k)
			i++
		}
	})
}

func BenchmarkRate(b *testing.B) {
	tr := New(Options{})
	tr.Observe("k", "/k")
	b.ReportAllocs()
	for b.Loop() {
		tr.Rate("k")
	}
}

func BenchmarkTop(b *testing.B) {
	tr := New(Options{})
	for i := range 10_000 {
		k := fmt.Sprintf("k%d", i)
		for range i % 7 {
			tr.Observe(k, "/"+k)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		tr.Top(1000)
	}
}
