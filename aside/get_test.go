package aside

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNewNamesTheInvalidField(t *testing.T) {
	ok := Options[book]{Name: "books", TTL: time.Minute}
	for _, tc := range []struct {
		name  string
		edit  func(o *Options[book])
		field string
	}{
		{"no_name", func(o *Options[book]) { o.Name = "" }, "Name"},
		{"name_with_colon", func(o *Options[book]) { o.Name = "a:b" }, "Name"},
		{"version_with_at", func(o *Options[book]) { o.Version = "1@2" }, "Version"},
		{"no_ttl", func(o *Options[book]) { o.TTL = 0 }, "TTL"},
		{"negative_swr", func(o *Options[book]) { o.StaleWhileRevalidate = -1 }, "StaleWhileRevalidate"},
		{"negative_beta", func(o *Options[book]) { o.EarlyRefresh = -1 }, "EarlyRefresh"},
		{"lease_without_l2", func(o *Options[book]) { o.Lease = leaseStub{} }, "Lease"},
		{"tags_without_invalidator", func(o *Options[book]) {
			o.Tags = func(string, book) []string { return nil }
			o.L2 = plainTier{}
		}, "Tags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			_, err := New(o)
			if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("New = %v; want ErrOptions naming %s", err, tc.field)
			}
		})
	}
	c, err := New(ok)
	if err != nil {
		t.Fatalf("New(valid) = %v", err)
	}
	_ = c.Close()
}

func TestGetLoadsOnceThenHits(t *testing.T) {
	noLeaks(t)
	c := newCache(t, Options[book]{})
	var l loader
	ctx := context.Background()
	for i := range 3 {
		v, err := c.Get(ctx, "1", l.load)
		if err != nil || v.Title != "v1" {
			t.Fatalf("Get #%d = %+v, %v; want v1", i, v, err)
		}
	}
	if got := l.calls.Load(); got != 1 {
		t.Errorf("loads = %d; want 1", got)
	}
	if s := c.Stats(); s.Hits != 2 || s.Misses != 1 || s.Loads != 1 || s.Entries != 1 {
		t.Errorf("Stats = %+v; want 2 hits, 1 miss, 1 load, 1 entry", s)
	}
}

// TestThousandConcurrentGetsOneLoad: a cold key read by 1,000 goroutines
// at once is loaded once, and every one of them gets the value.
func TestThousandConcurrentGetsOneLoad(t *testing.T) {
	noLeaks(t)
	c := newCache(t, Options[book]{})
	release := make(chan struct{})
	l := loader{next: func(_ context.Context, n int64) (book, error) {
		<-release
		return book{ID: 7, Title: "dune"}, nil
	}}
	const callers = 1000
	results := make(chan result, callers)
	for range callers {
		go func() {
			v, err := c.Get(context.Background(), "7", l.load)
			results <- result{v, err}
		}()
	}
	eventually(t, "every caller waits on the load", func() bool { return c.Stats().Coalesced == callers-1 })
	close(release)
	for range callers {
		if r := <-results; r.err != nil || r.v.Title != "dune" {
			t.Fatalf("Get = %+v, %v; want dune", r.v, r.err)
		}
	}
	if got := l.calls.Load(); got != 1 {
		t.Errorf("loads = %d; want 1", got)
	}
}

// TestLoaderFailureReachesEveryWaiter: an error or a panic of the loader
// is what every caller of that load gets; nothing is cached, and the next
// Get loads again.
func TestLoaderFailureReachesEveryWaiter(t *testing.T) {
	boom := errors.New("db down")
	for _, tc := range []struct {
		name  string
		fail  func() (book, error)
		check func(t *testing.T, err error)
	}{
		{"error", func() (book, error) { return book{}, boom }, func(t *testing.T, err error) {
			if !errors.Is(err, boom) {
				t.Errorf("err = %v; want %v", err, boom)
			}
		}},
		{"panic", func() (book, error) { panic("boom") }, func(t *testing.T, err error) {
			var pe *PanicError
			if !errors.As(err, &pe) || pe.Value != "boom" || !strings.Contains(string(pe.Stack), "TestLoaderFailureReachesEveryWaiter") {
				t.Errorf("err = %v; want a *PanicError of boom with the loader's stack", err)
			}
		}},
		{"panic_error_value", func() (book, error) { panic(boom) }, func(t *testing.T, err error) {
			var pe *PanicError
			if !errors.As(err, &pe) || !errors.Is(err, boom) {
				t.Errorf("err = %v; want a *PanicError wrapping %v", err, boom)
			}
		}},
		{"goexit", func() (book, error) { runtime.Goexit(); return book{}, nil }, func(t *testing.T, err error) {
			if !errors.Is(err, ErrLoaderExited) {
				t.Errorf("err = %v; want ErrLoaderExited", err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noLeaks(t)
			c := newCache(t, Options[book]{})
			release := make(chan struct{})
			l := loader{next: func(_ context.Context, n int64) (book, error) {
				if n == 1 {
					<-release
					return tc.fail()
				}
				return book{Title: "ok"}, nil
			}}
			const callers = 10
			results := make(chan result, callers)
			for range callers {
				go func() {
					v, err := c.Get(context.Background(), "k", l.load)
					results <- result{v, err}
				}()
			}
			eventually(t, "every caller waits", func() bool { return c.Stats().Coalesced == callers-1 })
			close(release)
			for range callers {
				r := within(t, 5*time.Second, func() result { return <-results })
				tc.check(t, r.err)
			}
			if c.Stats().Entries != 0 {
				t.Errorf("the failure was cached")
			}
			v, err := c.Get(context.Background(), "k", l.load)
			if err != nil || v.Title != "ok" || l.calls.Load() != 2 {
				t.Errorf("next Get = %+v, %v after %d loads; want ok from a second load", v, err, l.calls.Load())
			}
		})
	}
}

func TestCacheErrorsRemembersFailures(t *testing.T) {
	clk := newClock()
	c := newCache(t, Options[book]{CacheErrors: 10 * time.Second, Now: clk.Now})
	boom := errors.New("not there")
	l := loader{next: func(_ context.Context, n int64) (book, error) {
		if n == 1 {
			return book{}, boom
		}
		return book{Title: "back"}, nil
	}}
	ctx := context.Background()
	for i := range 2 {
		if _, err := c.Get(ctx, "k", l.load); !errors.Is(err, boom) {
			t.Fatalf("Get #%d = %v; want %v", i, err, boom)
		}
	}
	if l.calls.Load() != 1 {
		t.Errorf("loads = %d; want 1 (the error remembered)", l.calls.Load())
	}
	clk.Advance(11 * time.Second)
	if v, err := c.Get(ctx, "k", l.load); err != nil || v.Title != "back" {
		t.Errorf("Get after CacheErrors = %+v, %v; want a new load", v, err)
	}
}

// TestCallerLeavesLoadGoesOn: a caller whose context ends returns at once;
// the load it started is not cancelled and answers the others.
func TestCallerLeavesLoadGoesOn(t *testing.T) {
	noLeaks(t)
	c := newCache(t, Options[book]{})
	release := make(chan struct{})
	loadErr := make(chan error, 1)
	l := loader{next: func(ctx context.Context, _ int64) (book, error) {
		<-release
		loadErr <- ctx.Err()
		return book{Title: "done"}, nil
	}}
	first, cancel := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() {
		_, err := c.Get(first, "k", l.load)
		firstDone <- err
	}()
	eventually(t, "the load starts", func() bool { return l.calls.Load() == 1 })
	second := make(chan result, 1)
	go func() {
		v, err := c.Get(context.Background(), "k", l.load)
		second <- result{v, err}
	}()
	eventually(t, "the second caller waits", func() bool { return c.Stats().Coalesced == 1 })
	cancel()
	if err := within(t, time.Second, func() error { return <-firstDone }); !errors.Is(err, context.Canceled) {
		t.Errorf("first caller = %v; want context.Canceled", err)
	}
	close(release)
	if err := <-loadErr; err != nil {
		t.Errorf("the load's context ended with its first caller: %v", err)
	}
	if r := <-second; r.err != nil || r.v.Title != "done" {
		t.Errorf("second caller = %+v, %v; want done", r.v, r.err)
	}
}

// TestLoadTimeoutReleasesWaiters: a loader that ignores its context does
// not hold its callers past LoadTimeout.
func TestLoadTimeoutReleasesWaiters(t *testing.T) {
	release := make(chan struct{})
	defer close(release) // before Close, which waits for the loader
	c := newCache(t, Options[book]{LoadTimeout: 20 * time.Millisecond})
	l := loader{next: func(context.Context, int64) (book, error) {
		<-release
		return book{}, nil
	}}
	err := within(t, 2*time.Second, func() error {
		_, err := c.Get(context.Background(), "k", l.load)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get = %v; want context.DeadlineExceeded", err)
	}
}

func TestStaleWhileRevalidate(t *testing.T) {
	noLeaks(t)
	clk := newClock()
	c := newCache(t, Options[book]{TTL: time.Minute, StaleWhileRevalidate: time.Minute, Now: clk.Now})
	ctx := context.Background()
	release := make(chan struct{})
	l := loader{next: func(_ context.Context, n int64) (book, error) {
		if n == 2 {
			<-release
		}
		return book{Title: "v" + itoa(n)}, nil
	}}
	if v, _ := c.Get(ctx, "k", l.load); v.Title != "v1" {
		t.Fatalf("first Get = %q", v.Title)
	}
	clk.Advance(90 * time.Second) // stale, within the window
	v, err := within(t, time.Second, func() result {
		v, err := c.Get(ctx, "k", l.load)
		return result{v, err}
	}).unpack()
	if err != nil || v.Title != "v1" {
		t.Fatalf("stale Get = %+v, %v; want v1 at once", v, err)
	}
	eventually(t, "the reload starts", func() bool { return l.calls.Load() == 2 })
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if v, err := c.Get(ctx, "k", l.load); err != nil || v.Title != "v1" {
				t.Errorf("Get during the reload = %+v, %v; want v1", v, err)
			}
		})
	}
	wg.Wait()
	if got := l.calls.Load(); got != 2 {
		t.Errorf("loads = %d; want 2 (one reload)", got)
	}
	close(release)
	eventually(t, "the reload stores v2", func() bool {
		v, _ := peek(c, "k")
		return v.Title == "v2"
	})
	if s := c.Stats(); s.StaleServed != 101 || s.Refreshes != 1 {
		t.Errorf("Stats = %+v; want 101 stale, 1 refresh", s)
	}
	clk.Advance(3 * time.Minute) // past the window: a load first
	if v, _ := c.Get(ctx, "k", l.load); v.Title != "v3" {
		t.Errorf("Get past the window = %q; want v3", v.Title)
	}
}

func (r result) unpack() (book, error) { return r.v, r.err }

func TestStaleIfError(t *testing.T) {
	clk := newClock()
	c := newCache(t, Options[book]{TTL: time.Minute, StaleIfError: time.Minute, Now: clk.Now})
	ctx := context.Background()
	boom := errors.New("db down")
	l := loader{next: func(_ context.Context, n int64) (book, error) {
		if n == 1 {
			return book{Title: "v1"}, nil
		}
		return book{}, boom
	}}
	_, _ = c.Get(ctx, "k", l.load)
	clk.Advance(90 * time.Second)
	if v, err := c.Get(ctx, "k", l.load); err != nil || v.Title != "v1" {
		t.Errorf("Get with a failing reload within StaleIfError = %+v, %v; want v1", v, err)
	}
	if s := c.Stats(); s.StaleServed != 1 || s.LoadErrors != 1 {
		t.Errorf("Stats = %+v; want 1 stale served, 1 load error", s)
	}
	clk.Advance(time.Minute)
	if _, err := c.Get(ctx, "k", l.load); !errors.Is(err, boom) {
		t.Errorf("Get past StaleIfError = %v; want %v", err, boom)
	}
}

// TestEarlyRefresh: XFetch reloads a hit in the background when
// delta*beta*-ln(rand) reaches the time left; the draw is fixed here.
func TestEarlyRefresh(t *testing.T) {
	clk := newClock()
	c := newCache(t, Options[book]{TTL: time.Minute, EarlyRefresh: 1, Now: clk.Now})
	c.rand = func() float64 { return 0.5 } // -ln(0.5) = 0.69
	ctx := context.Background()
	l := loader{next: func(_ context.Context, n int64) (book, error) {
		clk.Advance(10 * time.Second) // delta: the load takes 10s
		return book{Title: "v" + itoa(n)}, nil
	}}
	_, _ = c.Get(ctx, "k", l.load) // loaded at 10s: fresh until 70s
	clk.Advance(40 * time.Second)  // at 50s, 20s left > 6.9s
	_, _ = c.Get(ctx, "k", l.load)
	if l.calls.Load() != 1 {
		t.Fatalf("refreshed with 20s left")
	}
	clk.Advance(15 * time.Second) // at 65s, 5s left < 6.9s
	if v, _ := c.Get(ctx, "k", l.load); v.Title != "v1" {
		t.Errorf("early refresh made the hit wait: %q", v.Title)
	}
	eventually(t, "the early reload stores v2", func() bool {
		v, _ := peek(c, "k")
		return v.Title == "v2"
	})
	if s := c.Stats(); s.Refreshes != 1 || s.Loads != 2 {
		t.Errorf("Stats = %+v; want 1 refresh, 2 loads", s)
	}
}

func TestRefreshAhead(t *testing.T) {
	clk := newClock()
	c := newCache(t, Options[book]{TTL: 100 * time.Second, RefreshAhead: true, Now: clk.Now})
	ctx := context.Background()
	var l loader
	_, _ = c.Get(ctx, "k", l.load)
	clk.Advance(50 * time.Second)
	_, _ = c.Get(ctx, "k", l.load)
	if l.calls.Load() != 1 {
		t.Fatalf("refreshed at half the lifetime")
	}
	clk.Advance(45 * time.Second) // in the last tenth
	if v, _ := c.Get(ctx, "k", l.load); v.Title != "v1" {
		t.Errorf("refresh-ahead made the hit wait")
	}
	eventually(t, "the predictive reload stores v2", func() bool {
		v, _ := peek(c, "k")
		return v.Title == "v2"
	})
	clk.Advance(10 * time.Second) // v1 would have expired; v2 is fresh
	if v, _ := c.Get(ctx, "k", never(t)); v.Title != "v2" {
		t.Errorf("Get = %q; want v2", v.Title)
	}
}

func TestTTLFunc(t *testing.T) {
	clk := newClock()
	c := newCache(t, Options[book]{TTL: time.Minute, Now: clk.Now, TTLFunc: func(key string, _ book) time.Duration {
		if key == "short" {
			return time.Second
		}
		return 0 // TTL
	}})
	ctx := context.Background()
	var l loader
	_, _ = c.Get(ctx, "short", l.load)
	_, _ = c.Get(ctx, "long", l.load)
	clk.Advance(2 * time.Second)
	_, _ = c.Get(ctx, "short", l.load)
	_, _ = c.Get(ctx, "long", l.load)
	if got := l.calls.Load(); got != 3 {
		t.Errorf("loads = %d; want 3 (short reloaded, long not)", got)
	}
}

// TestInvalidationOvertakesLoad: a load in progress when its key or one of
// its tags is invalidated answers its callers but stores nothing, so the
// invalidation is not undone by what the load read before it.
func TestInvalidationOvertakesLoad(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(c *Cache[book]) error
	}{
		{"invalidate_tag", func(c *Cache[book]) error { return c.Invalidate(context.Background(), "book:1") }},
		{"delete_key", func(c *Cache[book]) error { return c.Delete(context.Background(), "1") }},
		{"set_key", func(c *Cache[book]) error { return c.Set(context.Background(), "1", book{Title: "set"}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, Options[book]{Tags: func(key string, _ book) []string { return []string{"book:" + key} }})
			started, release := make(chan struct{}), make(chan struct{})
			l := loader{next: func(_ context.Context, n int64) (book, error) {
				if n == 1 {
					close(started)
					<-release
					return book{Title: "old"}, nil
				}
				return book{Title: "new"}, nil
			}}
			got := make(chan result, 1)
			go func() {
				v, err := c.Get(context.Background(), "1", l.load)
				got <- result{v, err}
			}()
			<-started
			if err := tc.do(c); err != nil {
				t.Fatal(err)
			}
			close(release)
			if r := <-got; r.err != nil || r.v.Title != "old" {
				t.Errorf("the caller got %+v, %v; want old (what its load read)", r.v, r.err)
			}
			v, _ := c.Get(context.Background(), "1", l.load)
			if v.Title == "old" {
				t.Errorf("the overtaken load was stored")
			}
		})
	}
}

// TestTagIndexWithinMemoryBound: L1 holds no more than MaxBytes, and the
// tag index no more pairs than the values L1 holds carry.
func TestTagIndexWithinMemoryBound(t *testing.T) {
	const maxBytes = 256 << 10
	c := newCache(t, Options[book]{MaxBytes: maxBytes, Tags: func(key string, _ book) []string {
		return []string{"book:" + key, "shelf:" + key[:1]}
	}})
	ctx := context.Background()
	for i := range 20_000 {
		key := itoa(int64(i + 1))
		if err := c.Set(ctx, key, book{ID: i, Title: strings.Repeat("x", 100)}); err != nil {
			t.Fatal(err)
		}
	}
	c.l1.CleanUp()
	s := c.Stats()
	if s.Bytes > maxBytes {
		t.Errorf("L1 holds %d bytes; MaxBytes is %d", s.Bytes, maxBytes)
	}
	pairs := 0
	for _, it := range c.l1.All() {
		pairs += len(it.tags)
	}
	if s.TagPairs != pairs || pairs == 0 || s.Entries >= 20_000 {
		t.Errorf("tag index holds %d pairs; L1's %d values carry %d", s.TagPairs, s.Entries, pairs)
	}
	if err := c.Invalidate(ctx, "shelf:1"); err != nil {
		t.Fatal(err)
	}
	for k := range c.l1.Keys() {
		if k[0] == '1' {
			t.Fatalf("%s survived the purge of its shelf", k)
		}
	}
	c.l1.InvalidateAll()
	if _, pairs := c.index.Len(); pairs != 0 {
		t.Errorf("tag index holds %d pairs with L1 empty", pairs)
	}
}

func TestCloseEndsEverything(t *testing.T) {
	noLeaks(t)
	c, err := New(Options[book]{Name: "books", TTL: time.Minute, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	loadCtx := make(chan context.Context, 1)
	l := loader{next: func(ctx context.Context, _ int64) (book, error) {
		loadCtx <- ctx
		<-ctx.Done()
		return book{}, ctx.Err()
	}}
	got := make(chan error, 1)
	go func() {
		_, err := c.Get(context.Background(), "k", l.load)
		got <- err
	}()
	<-loadCtx
	if err := within(t, 2*time.Second, func() error { return c.Close() }); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err == nil {
		t.Errorf("a Get waiting when Close was called succeeded")
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := c.Get(context.Background(), "other", l.load); !errors.Is(err, ErrClosed) {
		t.Errorf("Get after Close = %v; want ErrClosed", err)
	}
}

func TestGetMany(t *testing.T) {
	noLeaks(t)
	c := newCache(t, Options[book]{})
	ctx := context.Background()
	_ = c.Set(ctx, "a", book{Title: "a"})
	release := make(chan struct{})
	var batches [][]string
	var mu sync.Mutex
	load := func(_ context.Context, missing []string) (map[string]book, error) {
		mu.Lock()
		batches = append(batches, missing)
		mu.Unlock()
		<-release
		out := map[string]book{}
		for _, k := range missing {
			if k != "gone" {
				out[k] = book{Title: k}
			}
		}
		return out, nil
	}
	many := make(chan map[string]book, 1)
	go func() {
		m, err := c.GetMany(ctx, []string{"a", "b", "c", "b", "gone"}, load)
		if err != nil {
			t.Errorf("GetMany: %v", err)
		}
		many <- m
	}()
	eventually(t, "the batch load starts", func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 })
	single := make(chan result, 2)
	for _, k := range []string{"c", "gone"} {
		go func() {
			v, err := c.Get(ctx, k, never(t))
			single <- result{v, err}
		}()
	}
	eventually(t, "the Gets wait for the batch", func() bool { return c.Stats().Coalesced == 2 })
	close(release)
	m := <-many
	if len(m) != 3 || m["a"].Title != "a" || m["b"].Title != "b" || m["c"].Title != "c" {
		t.Errorf("GetMany = %v; want a, b, c", m)
	}
	for range 2 {
		r := <-single
		if !(r.err == nil && r.v.Title == "c" || errors.Is(r.err, ErrNotFound)) {
			t.Errorf("Get = %+v, %v; want c, or ErrNotFound for gone", r.v, r.err)
		}
	}
	if len(batches) != 1 || strings.Join(batches[0], ",") != "b,c,gone" {
		t.Errorf("batches = %v; want one of b,c,gone", batches)
	}
}

func TestL2KeysNeverCollide(t *testing.T) {
	keys := []string{"a:b", "a%3Ab", "http://x/y", "http%3A//x/y", "%", "%25", "", "a@1:b"}
	seen := map[string]string{}
	for _, name := range []string{"books", "books.v", "authors"} {
		for _, version := range []string{"", "1", "2"} {
			c := newCache(t, Options[book]{Name: name, Version: version})
			for _, k := range keys {
				lk := c.l2Key(k)
				if prev, ok := seen[lk]; ok {
					t.Errorf("%s/%s/%q and %s share the L2 key %q", name, version, k, prev, lk)
				}
				seen[lk] = name + "/" + version + "/" + k
				if strings.Contains(lk, "://") || !strings.Contains(lk, name) {
					t.Errorf("L2 key %q of %q", lk, k)
				}
			}
		}
	}
}
