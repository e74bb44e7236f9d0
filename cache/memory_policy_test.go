package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// request is what the gateway does: a Get, and a Set on a miss.
func request(m *Memory, key string, body int, now time.Time) bool {
	ctx := context.Background()
	if e, _ := m.Get(ctx, key); e != nil {
		return true
	}
	_ = m.Set(ctx, key, entry(key, body, time.Hour, now))
	return false
}

func TestMemoryScanDoesNotFlushHotSet(t *testing.T) {
	m, err := NewMemory(MemoryOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Now()
	hot := make([]string, 100) // about a quarter of the budget
	for i := range hot {
		hot[i] = fmt.Sprintf("GET http://api.example.com/hot/%d", i)
	}
	for range 20 {
		for _, k := range hot {
			request(m, k, 2048, now)
		}
	}
	// A scan of one-time keys, 20 times the budget.
	for i := range 8000 {
		request(m, fmt.Sprintf("GET http://api.example.com/scan/%d", i), 2048, now)
	}
	held := 0
	for _, k := range hot {
		if e, _ := m.Get(context.Background(), k); e != nil {
			held++
		}
	}
	if held < 95 {
		t.Errorf("%d of 100 hot entries held after the scan, want at least 95", held)
	}
	if st := m.Stats(); st.Bytes > st.MaxBytes {
		t.Errorf("bytes = %d, over the budget of %d", st.Bytes, st.MaxBytes)
	}
}

// TestMemoryConcurrentAccounting stores, reads and deletes from several
// goroutines and checks that the bytes the policy counts are exactly the
// sizes of the entries the store holds, within the budget, and that
// OnRemove saw every entry that left.
func TestMemoryConcurrentAccounting(t *testing.T) {
	const budget = 2 << 20
	var removed atomic.Int64
	m, err := NewMemory(MemoryOptions{MaxBytes: budget, OnRemove: func(string, *Entry) { removed.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Now()
	var stored atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 4000 {
				k := fmt.Sprintf("k%d", min(rng.IntN(3000), rng.IntN(3000)))
				switch rng.IntN(10) {
				case 0:
					_ = m.Delete(ctx, k)
				case 1, 2, 3:
					if m.Set(ctx, k, entry(k, 64+rng.IntN(40<<10), time.Hour, now)) == nil {
						stored.Add(1)
					}
				default:
					_, _ = m.Get(ctx, k)
				}
				if i%500 == 0 {
					if st := m.Stats(); st.Bytes > budget {
						t.Errorf("bytes = %d, over the budget of %d", st.Bytes, budget)
					}
				}
			}
		}()
	}
	wg.Wait()
	st := m.Stats()
	var sum uint64
	held := 0
	m.Range(func(_ string, e *Entry) bool {
		sum += uint64(e.Size())
		held++
		return true
	})
	if sum != st.Bytes {
		t.Errorf("the store holds %d bytes, the policy counts %d", sum, st.Bytes)
	}
	if st.Bytes > budget {
		t.Errorf("bytes = %d, over the budget of %d", st.Bytes, budget)
	}
	if got, want := removed.Load(), stored.Load()-int64(held); got != want {
		t.Errorf("OnRemove called %d times, want %d (%d stored, %d held)", got, want, stored.Load(), held)
	}
	if st.Evictions == 0 {
		t.Error("no evictions counted")
	}
}

func TestMemoryExpiresAtKeepUntil(t *testing.T) {
	ctx := context.Background()
	var removed []string
	var mu sync.Mutex
	m, err := NewMemory(MemoryOptions{MaxBytes: 1 << 20, OnRemove: func(k string, _ *Entry) {
		mu.Lock()
		removed = append(removed, k)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	// Expiry runs on the tier's real (coarse) clock: a keep long enough
	// that a loaded machine still reads the entry before it ends, then
	// time past its end.
	const keep = 500 * time.Millisecond
	now := time.Now()
	if err := m.Set(ctx, "soon", entry("soon", 10, keep, now)); err != nil {
		t.Fatal(err)
	}
	if e, _ := m.Get(ctx, "soon"); e == nil {
		t.Fatal("entry missing before its KeepUntil")
	}
	time.Sleep(time.Until(now.Add(keep + 100*time.Millisecond)))
	if e, _ := m.Get(ctx, "soon"); e != nil {
		t.Error("entry returned after its KeepUntil")
	}
	// The next Set drops it.
	if err := m.Set(ctx, "later", entry("later", 10, time.Hour, time.Now())); err != nil {
		t.Fatal(err)
	}
	st := m.Stats()
	if st.Expirations != 1 || st.Evictions != 0 {
		t.Errorf("expirations, evictions = %d, %d, want 1, 0", st.Expirations, st.Evictions)
	}
	if want := uint64(entry("later", 10, time.Hour, now).Size()); st.Bytes != want {
		t.Errorf("bytes = %d, want %d (the expired entry uncounted)", st.Bytes, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(removed) != 1 || removed[0] != "soon" {
		t.Errorf("OnRemove saw %v, want [soon]", removed)
	}
}

func TestMemoryReplacementAndDeleteLeaveThePolicy(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{MaxBytes: 1 << 20})
	defer m.Close()
	now := time.Now()
	_ = m.Set(ctx, "k", entry("k", 1000, time.Hour, now))
	_ = m.Set(ctx, "k", entry("k", 3000, time.Hour, now))
	if got, want := m.Stats().Bytes, uint64(entry("k", 3000, time.Hour, now).Size()); got != want {
		t.Errorf("bytes after a replacement = %d, want %d (the new entry only)", got, want)
	}
	_ = m.Delete(ctx, "k")
	if got := m.Stats().Bytes; got != 0 {
		t.Errorf("bytes after Delete = %d, want 0", got)
	}
}

func TestMemoryHitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{MaxBytes: 1 << 20})
	defer m.Close()
	_ = m.Set(ctx, "k", entry("k", 100, time.Hour, time.Now()))
	if n := testing.AllocsPerRun(10_000, func() { _, _ = m.Get(ctx, "k") }); n != 0 {
		t.Errorf("Get allocates %v times per hit, want 0", n)
	}
}

func TestNodeFitsItsSizeClass(t *testing.T) {
	// entryOverhead (entry.go) counts 96 bytes for the tier's nodes:
	// otter's takes 24, this one 64, the expiry heap's slot 8. Beyond 64 it
	// would take an 80-byte size class, and Entry.Size would understate
	// the heap.
	if got := unsafe.Sizeof(node{}); got > 64 {
		t.Errorf("node is %d bytes, want at most 64", got)
	}
}

// BenchmarkMemoryGetFull is a hit on a tier more than half full, where
// the policy counts every hit in its frequency sketch (below half full it
// does not, as in BenchmarkMemoryGet).
func BenchmarkMemoryGetFull(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	keys := make([]string, 1024)
	var size int
	for i := range keys {
		keys[i] = fmt.Sprintf("GET http://api.example.com/api/products/%d", i)
		size += entry(keys[i], 1024, time.Hour, now).Size()
	}
	m, _ := NewMemory(MemoryOptions{MaxBytes: int64(size) * 5 / 4})
	defer m.Close()
	for _, k := range keys {
		_ = m.Set(ctx, k, entry(k, 1024, time.Hour, now))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if e, _ := m.Get(ctx, keys[i&1023]); e == nil {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkMemorySet is a miss filled on a full tier: admission and
// eviction.
func BenchmarkMemorySet(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	m, _ := NewMemory(MemoryOptions{MaxBytes: 4 << 20})
	defer m.Close()
	keys := make([]string, 1<<14)
	for i := range keys {
		keys[i] = fmt.Sprintf("GET http://api.example.com/api/products/%d", i)
	}
	entries := make([]*Entry, len(keys))
	for i, k := range keys {
		entries[i] = entry(k, 1024, time.Hour, now)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		j := (i * 7919) & (len(keys) - 1)
		_ = m.Set(ctx, keys[j], entries[j])
		i++
	}
}

func TestMemorySweepExpiresWithoutSets(t *testing.T) {
	ctx := context.Background()
	var removed atomic.Int64
	m, _ := NewMemory(MemoryOptions{MaxBytes: 1 << 20, OnRemove: func(string, *Entry) { removed.Add(1) }})
	defer m.Close()
	_ = m.Set(ctx, "soon", entry("soon", 10, 10*time.Millisecond, time.Now()))
	deadline := time.Now().Add(3 * sweepEvery)
	for m.Stats().Expirations == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if st := m.Stats(); st.Expirations != 1 || st.Bytes != 0 || removed.Load() != 1 {
		t.Errorf("after %v: expirations %d, bytes %d, OnRemove calls %d; want 1, 0, 1", 3*sweepEvery, st.Expirations, st.Bytes, removed.Load())
	}
}
