package aside

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
)

// TestHookPanicIsAnError: a panic of a hook (here Tags) reaches the
// callers as a *PanicError; the process goes on.
func TestHookPanicIsAnError(t *testing.T) {
	noLeaks(t)
	c := newCache(t, Options[book]{Tags: func(string, book) []string { panic("bad tags") }})
	var l loader
	_, err := c.Get(context.Background(), "1", l.load)
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "bad tags" {
		t.Errorf("Get = %v; want a *PanicError of the hook", err)
	}
}

// TestStaleL2CopyOnColdNode: a node with nothing in L1 serves another
// node's stale L2 copy at once within StaleWhileRevalidate, and reloads.
func TestStaleL2CopyOnColdNode(t *testing.T) {
	clk := newClock()
	f := newFleet(t)
	l2, err := cache.NewSharedMemory(cache.MemoryOptions{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.l2 = l2
	o := Options[book]{TTL: time.Minute, StaleWhileRevalidate: time.Minute, Now: clk.Now}
	a, b := node(t, f, o), node(t, f, o)
	ctx := context.Background()
	release := make(chan struct{})
	l := loader{next: func(_ context.Context, n int64) (book, error) {
		if n == 2 {
			<-release
		}
		return book{Title: "v" + itoa(n)}, nil
	}}
	_, _ = a.Get(ctx, "1", l.load)
	eventually(t, "the value is in L2", func() bool { e, _ := l2.Get(ctx, a.l2Key("1")); return e != nil })
	clk.Advance(90 * time.Second)
	v, err := within(t, time.Second, func() result { v, err := b.Get(ctx, "1", l.load); return result{v, err} }).unpack()
	if err != nil || v.Title != "v1" {
		t.Errorf("cold B.Get = %+v, %v; want the stale v1 at once", v, err)
	}
	close(release)
	eventually(t, "B reloads", func() bool { v, _ := peek(b, "1"); return v.Title == "v2" })
	if s := b.Stats(); s.StaleServed != 1 || s.L2Hits != 1 {
		t.Errorf("B's Stats = %+v; want 1 stale served from L2", s)
	}
}

// TestUndecodableL2CopyIsAMiss: a copy the Codec cannot read is counted
// and loaded again.
func TestUndecodableL2CopyIsAMiss(t *testing.T) {
	f := newFleet(t)
	a := node(t, f, Options[book]{})
	b := node(t, f, Options[book]{Codec: CodecFuncs[book]{
		MarshalFunc:   JSON[book]().Marshal,
		UnmarshalFunc: func([]byte, *book) error { return errors.New("not my format") },
	}})
	ctx := context.Background()
	var l loader
	_, _ = a.Get(ctx, "1", l.load)
	eventually(t, "the value is in L2", func() bool { e, _ := f.l2.Get(ctx, a.l2Key("1")); return e != nil })
	if v, err := b.Get(ctx, "1", l.load); err != nil || v.Title != "v2" {
		t.Errorf("B.Get = %+v, %v; want its own load", v, err)
	}
	if s := b.Stats(); s.CodecErrors == 0 {
		t.Errorf("B's Stats = %+v; want a codec error counted", s)
	}
}

// TestGetManyRefreshesAndForgets: GetMany serves stale values while one
// batch reloads them, and drops a key its loader no longer returns.
func TestGetManyRefreshesAndForgets(t *testing.T) {
	clk := newClock()
	c := newCache(t, Options[book]{TTL: time.Minute, StaleWhileRevalidate: time.Minute, Now: clk.Now})
	ctx := context.Background()
	var batches []string
	gone := false
	load := func(_ context.Context, keys []string) (map[string]book, error) {
		batches = append(batches, strings.Join(keys, ","))
		out := map[string]book{}
		for _, k := range keys {
			if !(gone && k == "b") {
				out[k] = book{Title: k + itoa(int64(len(batches)))}
			}
		}
		return out, nil
	}
	if m, err := c.GetMany(ctx, []string{"a", "b"}, load); err != nil || m["a"].Title != "a1" {
		t.Fatalf("GetMany = %v, %v", m, err)
	}
	clk.Advance(90 * time.Second)
	if m, _ := c.GetMany(ctx, []string{"a", "b"}, load); m["a"].Title != "a1" || m["b"].Title != "b1" {
		t.Errorf("stale GetMany = %v; want a1, b1 at once", m)
	}
	eventually(t, "the batch reload stores a2", func() bool { v, _ := peek(c, "a"); return v.Title == "a2" })
	gone = true
	clk.Advance(3 * time.Minute) // past every window: loaded first
	m, err := c.GetMany(ctx, []string{"a", "b"}, load)
	if err != nil || len(m) != 1 || m["a"].Title != "a3" {
		t.Errorf("GetMany = %v, %v; want a3 alone", m, err)
	}
	if _, ok := peek(c, "b"); ok {
		t.Errorf("a key the loader no longer returns is still held")
	}
	if strings.Join(batches, " ") != "a,b a,b a,b" {
		t.Errorf("batches = %q; want three of a,b", batches)
	}
}

// TestMaxRefreshes bounds the background reloads: past it, a stale read
// is served and its reload skipped.
func TestMaxRefreshes(t *testing.T) {
	clk := newClock()
	c := newCache(t, Options[book]{TTL: time.Minute, StaleWhileRevalidate: time.Minute, MaxRefreshes: 1, Now: clk.Now})
	ctx := context.Background()
	release := make(chan struct{})
	l := loader{next: func(_ context.Context, n int64) (book, error) {
		if n > 2 {
			<-release
		}
		return book{Title: "v"}, nil
	}}
	_, _ = c.Get(ctx, "1", l.load)
	_, _ = c.Get(ctx, "2", l.load)
	clk.Advance(90 * time.Second)
	_, _ = c.Get(ctx, "1", l.load) // starts the one reload allowed
	_, _ = c.Get(ctx, "2", l.load) // skipped
	if s := c.Stats(); s.Refreshes != 1 || s.RefreshesSkipped != 1 || s.StaleServed != 2 {
		t.Errorf("Stats = %+v; want 1 refresh, 1 skipped, 2 stale served", s)
	}
	close(release)
}
