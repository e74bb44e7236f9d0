package cache

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestTagIndexFollowsRemovals(t *testing.T) {
	ctx := context.Background()
	idx := NewTagIndex(100)
	removed := make(chan string, 100)
	m, _ := NewMemory(MemoryOptions{MaxBytes: 1 << 20, OnRemove: func(k string, e *Entry) {
		idx.Remove(k, e)
		removed <- k
	}})
	defer m.Close()
	now := time.Now()
	a := entry("a", 10, time.Hour, now)
	a.Tags = []string{"product:1", "products"}
	if err := idx.Add("a", a); err != nil {
		t.Fatal(err)
	}
	_ = m.Set(ctx, "a", a)

	// Replace a with a2 carrying one of the same tags: the late removal
	// notice of a must not unindex a2.
	a2 := entry("a", 10, time.Hour, now)
	a2.Tags = []string{"products"}
	_ = idx.Add("a", a2)
	_ = m.Set(ctx, "a", a2)
	<-removed
	if got := idx.Keys("products"); len(got) != 1 || got[0] != "a" {
		t.Errorf("products -> %v after replacement, want [a]", got)
	}
	_ = m.Delete(ctx, "a")
	<-removed
	if got := idx.Keys("products"); len(got) != 0 {
		t.Errorf("products -> %v after delete, want none", got)
	}
}

func TestTagIndexBounded(t *testing.T) {
	idx := NewTagIndex(3)
	e := &Entry{Tags: []string{"x", "y"}}
	if err := idx.Add("k1", e); err != nil {
		t.Fatal(err)
	}
	if err := idx.Add("k2", e); err != ErrIndexFull {
		t.Errorf("Add over capacity: %v, want ErrIndexFull", err)
	}
	if _, pairs := idx.Len(); pairs != 2 {
		t.Errorf("pairs = %d, want 2", pairs)
	}
}

// A flood of junk variants of one resource whose answers carry 64 tags
// must not keep other tagged responses out: without a pair cap the index is
// bounded by the tier's budget, since each entry's Size counts its pairs
// and evictions unindex them.
func TestTagIndexBoundedByBudget(t *testing.T) {
	ctx := context.Background()
	const budget = 4 << 20
	idx := NewTagIndex(0)
	m, err := NewMemory(MemoryOptions{MaxBytes: budget, OnRemove: func(k string, e *Entry) { idx.Remove(k, e) }})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	now := time.Now()
	junkTags := make([]string, 64)
	for i := range junkTags {
		junkTags[i] = fmt.Sprintf("list-%02d", i)
	}
	const junk = 20_000 // 64 tags each: 1.28M pairs offered, more than the old default cap
	for i := range junk {
		e := entry(fmt.Sprintf("GET http://api.example.com/api/list?junk=%d", i), 1024, time.Hour, now)
		e.Tags = junkTags
		if err := idx.Add(e.Key, e); err != nil {
			t.Fatalf("junk %d: Add: %v", i, err)
		}
		if err := m.Set(ctx, e.Key, e); err != nil {
			t.Fatalf("junk %d: Set: %v", i, err)
		}
	}
	m.c.CleanUp()

	// W-TinyLFU may turn a new entry away at its first store, while its
	// frequency ties the junk's; the next fill of a popular key wins. An
	// index cap, by contrast, would refuse it every time.
	fresh := entry("GET http://api.example.com/api/products/1", 1024, time.Hour, now)
	fresh.Tags = []string{"product:1", "products"}
	stored := false
	for attempt := 1; attempt <= 3 && !stored; attempt++ {
		if err := idx.Add(fresh.Key, fresh); err != nil {
			t.Fatalf("fresh entry, attempt %d: Add: %v", attempt, err)
		}
		if err := m.Set(ctx, fresh.Key, fresh); err != nil {
			t.Fatalf("fresh entry, attempt %d: Set: %v", attempt, err)
		}
		m.c.CleanUp()
		got, _ := m.Get(ctx, fresh.Key)
		stored = got == fresh
	}
	if !stored {
		t.Fatal("fresh tagged entry not stored after 3 attempts")
	}
	if got := idx.Keys("product:1"); !slices.Equal(got, []string{fresh.Key}) {
		t.Errorf("Keys(product:1) = %v, want [%s]", got, fresh.Key)
	}

	m.c.CleanUp()
	held := 0
	m.Range(func(_ string, e *Entry) bool { held += len(e.Tags); return true })
	tags, pairs := idx.Len()
	if pairs != held {
		t.Errorf("index holds %d pairs, the tier's entries carry %d", pairs, held)
	}
	if limit := budget / tagPairBytes; pairs > limit {
		t.Errorf("pairs = %d, more than the budget allows (%d at %d bytes each)", pairs, limit, tagPairBytes)
	}
	if tags != 64+2 {
		t.Errorf("tags = %d, want 66", tags)
	}
}

func TestTagIndexUncappedByDefault(t *testing.T) {
	for _, maxPairs := range []int{0, -1} {
		idx := NewTagIndex(maxPairs)
		e := &Entry{}
		for j := range 600 {
			e.Tags = append(e.Tags, fmt.Sprint("t", j))
		}
		for i := range 1_700 {
			if err := idx.Add(fmt.Sprint("k", i), e); err != nil {
				t.Fatalf("NewTagIndex(%d): Add %d: %v", maxPairs, i, err)
			}
		}
		if _, pairs := idx.Len(); pairs != 1_020_000 {
			t.Errorf("NewTagIndex(%d): pairs = %d, want 1020000", maxPairs, pairs)
		}
	}
}

// The pairs of a tag move between the inline slot and a map as they come
// and go; Keys, Len and Remove must not see the difference.
func TestTagIndexSetTransitions(t *testing.T) {
	idx := NewTagIndex(0)
	es := make([]*Entry, 200)
	for i := range es {
		es[i] = &Entry{Key: fmt.Sprint("k", i), Tags: []string{"shared", fmt.Sprint("own", i)}}
		if err := idx.Add(es[i].Key, es[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(idx.Keys("shared")); got != 200 {
		t.Fatalf("Keys(shared) has %d keys, want 200", got)
	}
	// Re-adding a key replaces its pair without counting a new one.
	if err := idx.Add(es[0].Key, es[0]); err != nil {
		t.Fatal(err)
	}
	if tags, pairs := idx.Len(); tags != 201 || pairs != 400 {
		t.Fatalf("Len = %d tags, %d pairs, want 201, 400", tags, pairs)
	}
	// A stale removal notice (another entry under the same key) is ignored.
	idx.Remove(es[5].Key, &Entry{Tags: es[5].Tags})
	if _, pairs := idx.Len(); pairs != 400 {
		t.Fatalf("stale Remove dropped pairs: %d, want 400", pairs)
	}
	// Shrink to one pair (back inline), then to none.
	for _, e := range es[:199] {
		idx.Remove(e.Key, e)
	}
	if got := idx.Keys("shared"); !slices.Equal(got, []string{"k199"}) {
		t.Errorf("Keys(shared) = %v, want [k199]", got)
	}
	if tags, pairs := idx.Len(); tags != 2 || pairs != 2 {
		t.Errorf("Len = %d tags, %d pairs, want 2, 2", tags, pairs)
	}
	// Growing again from inline works.
	if err := idx.Add(es[0].Key, es[0]); err != nil {
		t.Fatal(err)
	}
	got := idx.Keys("shared")
	slices.Sort(got)
	if !slices.Equal(got, []string{"k0", "k199"}) {
		t.Errorf("Keys(shared) = %v, want [k0 k199]", got)
	}
	idx.Remove(es[0].Key, es[0])
	idx.Remove(es[199].Key, es[199])
	if tags, pairs := idx.Len(); tags != 0 || pairs != 0 {
		t.Errorf("Len = %d tags, %d pairs after removing all, want 0, 0", tags, pairs)
	}
	if got := idx.Keys("shared"); len(got) != 0 {
		t.Errorf("Keys(shared) = %v after removing all", got)
	}
}

func BenchmarkTagIndexAddRemove(b *testing.B) {
	idx := NewTagIndex(0)
	es := make([]*Entry, 1024)
	for i := range es {
		es[i] = &Entry{Key: fmt.Sprint("k", i), Tags: []string{"products", fmt.Sprint("product:", i)}}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e := es[i&1023]
		_ = idx.Add(e.Key, e)
		idx.Remove(e.Key, e)
		i++
	}
}
