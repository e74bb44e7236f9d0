package cache

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func entry(key string, bodySize int, keep time.Duration, now time.Time) *Entry {
	return &Entry{Key: key, Status: 200, Body: make([]byte, bodySize), ResponseTime: now, Lifetime: keep, KeepUntil: now.Add(keep)}
}

func TestMemoryBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	m, err := NewMemory(MemoryOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Now()
	for i := range 2000 {
		k := fmt.Sprintf("k%d", i)
		if err := m.Set(ctx, k, entry(k, 4<<10, time.Hour, now)); err != nil {
			t.Fatal(err)
		}
	}
	// Eviction is applied by otter's maintenance; run it now.
	m.c.CleanUp()
	st := m.Stats()
	if st.Bytes > 1<<20 {
		t.Errorf("bytes = %d, over the 1 MiB budget", st.Bytes)
	}
	held := 0
	m.Range(func(string, *Entry) bool { held++; return true })
	if held > (1<<20)/(4<<10) {
		t.Errorf("entries = %d: more 4 KiB entries than fit in 1 MiB", held)
	}
	if st.Evictions == 0 {
		t.Error("no evictions counted")
	}
}

func TestMemoryRejectsTooLarge(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{MaxBytes: 8 << 20, MaxObjectSize: 64 << 10})
	defer m.Close()
	now := time.Now()
	if err := m.Set(ctx, "small", entry("small", 1<<10, time.Hour, now)); err != nil {
		t.Fatalf("small: %v", err)
	}
	if err := m.Set(ctx, "big", entry("big", 128<<10, time.Hour, now)); err != ErrTooLarge {
		t.Fatalf("big: err = %v, want ErrTooLarge", err)
	}
	if e, _ := m.Get(ctx, "big"); e != nil {
		t.Error("too-large entry stored")
	}
	if e, _ := m.Get(ctx, "small"); e == nil {
		t.Error("small entry missing")
	}
}

func TestGroupCoalesces(t *testing.T) {
	var g Group
	c, leader := g.Join("k")
	if !leader {
		t.Fatal("first caller is not the leader")
	}
	// Each caller reports whether Join made it the leader once Join has
	// returned, that is once it is counted as a waiter: the leader's Done
	// below then comes after all ten have joined, whatever the scheduling.
	joined := make(chan bool)
	done := make(chan bool)
	for range 10 {
		go func() {
			w, l := g.Join("k")
			joined <- l
			if l {
				done <- false
				return
			}
			done <- w.Wait(context.Background(), time.Second)
		}()
	}
	for range 10 {
		if <-joined {
			t.Error("a caller became leader while the first one's fill was in progress")
		}
	}
	if n := g.Pending(); n != 1 {
		t.Errorf("pending = %d, want 1 (one fill for one key)", n)
	}
	if n := g.Done("k", c); n != 10 {
		t.Errorf("waiters = %d, want 10", n)
	}
	for range 10 {
		if !<-done {
			t.Fatal("a waiter became leader or timed out")
		}
	}
	if _, leader := g.Join("k"); !leader {
		t.Error("after Done the next caller must lead")
	}
}

func TestGroupWaitTimeout(t *testing.T) {
	var g Group
	g.Join("k")
	w, _ := g.Join("k")
	if w.Wait(context.Background(), 20*time.Millisecond) {
		t.Error("Wait reported done without Done")
	}
}

func BenchmarkMemoryGet(b *testing.B) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{MaxBytes: 256 << 20})
	defer m.Close()
	now := time.Now()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "GET http://api.example.com/api/products/" + strings.Repeat("x", i%7) + fmt.Sprint(i)
		_ = m.Set(ctx, keys[i], entry(keys[i], 1024, time.Hour, now))
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

func BenchmarkMemoryGetParallel(b *testing.B) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{MaxBytes: 256 << 20})
	defer m.Close()
	now := time.Now()
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("GET http://api.example.com/api/products/%d", i)
		_ = m.Set(ctx, keys[i], entry(keys[i], 1024, time.Hour, now))
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = m.Get(ctx, keys[i&1023])
			i++
		}
	})
}
