package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestDeliveryToEveryTarget(t *testing.T) {
	noLeaks(t)
	a, b := newPeer(t, nil), newPeer(t, nil)
	f := start(t, Options{Targets: []Target{
		{URL: a.URL + "/purge?zone=1", Headers: map[string]string{"Authorization": "Bearer a-token"}},
		{URL: b.URL, Headers: map[string]string{"x-api-key": "b-key", "User-Agent": "custom"}},
	}})

	f.Enqueue(Purge{
		Tags: []string{"product:42", "products"}, URLs: []string{"https://shop/api/products/42?a=1&b=2"},
		Prefixes: []string{"/api/products/"}, Routes: []string{"GET /api/products/{id}"}, Soft: true,
	})
	f.Enqueue(Purge{All: true, ID: "fixed-id"})
	drain(t, f)

	hexID := regexp.MustCompile(`^[0-9a-f]{32}$`)
	want := []map[string]any{
		{
			"tags": []any{"product:42", "products"}, "urls": []any{"https://shop/api/products/42?a=1&b=2"},
			"prefixes": []any{"/api/products/"}, "routes": []any{"GET /api/products/{id}"},
			"soft": true, "origin": "moat",
		},
		{"all": true, "id": "fixed-id", "origin": "moat"},
	}
	var ids [2][]string // the Idempotency-Key of each purge, per target
	for ti, p := range []*peer{a, b} {
		got := p.requests()
		if len(got) != 2 {
			t.Fatalf("target %d: got %d requests, want 2", ti, len(got))
		}
		for i, r := range got {
			key := r.Header.Get("Idempotency-Key")
			ids[i] = append(ids[i], key)
			if r.Method != http.MethodPost {
				t.Errorf("target %d request %d: method %s, want POST", ti, i, r.Method)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("target %d request %d: Content-Type %q, want application/json", ti, i, ct)
			}
			if r.Body["id"] != key {
				t.Errorf("target %d request %d: body id %v, Idempotency-Key %q: want equal", ti, i, r.Body["id"], key)
			}
			if i == 0 && !hexID.MatchString(key) {
				t.Errorf("target %d: generated id %q, want 32 hex digits", ti, key)
			}
			w := maps.Clone(want[i])
			w["id"] = key
			if fmt.Sprint(r.Body) != fmt.Sprint(w) {
				t.Errorf("target %d request %d: body\n got %v\nwant %v", ti, i, r.Body, w)
			}
			if strings.Contains(r.Raw, `\u0026`) {
				t.Errorf("target %d request %d: body %s escapes '&'", ti, i, r.Raw)
			}
		}
	}
	for i, k := range ids {
		if k[0] != k[1] {
			t.Errorf("purge %d: Idempotency-Key %q on one target, %q on the other: want the same", i, k[0], k[1])
		}
	}
	ra, rb := a.requests()[0], b.requests()[0]
	for _, c := range []struct{ name, got, want string }{
		{"a Authorization", ra.Header.Get("Authorization"), "Bearer a-token"},
		{"a X-Api-Key", ra.Header.Get("X-Api-Key"), ""},
		{"a User-Agent", ra.Header.Get("User-Agent"), userAgent},
		{"b X-Api-Key", rb.Header.Get("X-Api-Key"), "b-key"},
		{"b Authorization", rb.Header.Get("Authorization"), ""},
		{"b User-Agent", rb.Header.Get("User-Agent"), "custom"},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	s := f.Stats()
	if s.Sent != 4 || s.Failed != 0 || s.Dropped != 0 || s.Retried != 0 || s.Pending != 0 {
		t.Errorf("Stats = %+v, want Sent 4 and nothing else", s)
	}
	if got, want := s.PerTarget[0].Target, a.URL+"/purge"; got != want {
		t.Errorf("PerTarget[0].Target = %q, want %q (no query)", got, want)
	}
}

func TestEmptyPurgeIsNotSent(t *testing.T) {
	noLeaks(t)
	a := newPeer(t, nil)
	f := start(t, Options{Targets: []Target{{URL: a.URL}}})
	f.Enqueue(Purge{Soft: true, ID: "x"})
	drain(t, f)
	if n := len(a.requests()); n != 0 {
		t.Errorf("got %d requests for a purge that selects nothing, want 0", n)
	}
}

func TestBoundedQueueDropsOldest(t *testing.T) {
	noLeaks(t)
	const size, extra = 10, 25
	p, release := newBlockedPeer(t)
	f := start(t, Options{Targets: []Target{{URL: p.URL}}, QueueSize: size})

	f.Enqueue(Purge{Tags: []string{"first"}, ID: "first"})
	<-p.arrived // the worker holds "first" in flight; the queue is empty
	for i := range size + extra {
		f.Enqueue(Purge{Tags: []string{"t"}, ID: fmt.Sprint(i)})
	}
	s := f.Stats()
	if s.Dropped != extra || s.Pending != size+1 {
		t.Fatalf("after %d purges behind a blocked one: Dropped %d, Pending %d; want %d, %d",
			size+extra, s.Dropped, s.Pending, extra, size+1)
	}

	release()
	drain(t, f)
	var got []string
	for _, r := range p.requests() {
		got = append(got, r.Header.Get("Idempotency-Key"))
	}
	want := []string{"first"}
	for i := extra; i < size+extra; i++ {
		want = append(want, fmt.Sprint(i)) // the newest purges survive
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	if s := f.Stats(); s.Sent != size+1 || s.Dropped != extra {
		t.Errorf("Stats = %+v, want Sent %d, Dropped %d", s, size+1, extra)
	}
}

func TestBoundedQueueMemory(t *testing.T) {
	noLeaks(t)
	p, release := newBlockedPeer(t)
	f := start(t, Options{Targets: []Target{{URL: p.URL}, {URL: p.URL}}, QueueSize: 10})
	f.Enqueue(Purge{All: true})
	<-p.arrived

	const n = 100_000 // unbounded, this would hold ~20 MB of bodies
	tag := strings.Repeat("x", 100)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		f.Enqueue(Purge{Tags: []string{tag, fmt.Sprint(i)}})
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 2<<20 {
		t.Errorf("heap grew %d bytes over %d purges with QueueSize 10; want < 2 MiB", grew, n)
	}
	if s := f.Stats(); s.Pending > 2*(10+1) {
		t.Errorf("Pending = %d, want <= %d", s.Pending, 2*(10+1))
	}
	release()
}

func TestSlowTargetDoesNotDelayOthers(t *testing.T) {
	noLeaks(t)
	slow, release := newBlockedPeer(t)
	fast := newPeer(t, nil)
	f := start(t, Options{Targets: []Target{{URL: slow.URL}, {URL: fast.URL}}})

	const n = 20
	for i := range n {
		f.Enqueue(Purge{Tags: []string{fmt.Sprint(i)}})
	}
	// The fast target's deliveries are recorded (Sent) after its server has
	// seen them: wait for the counter, not for the requests alone.
	eventually(t, "the fast target to receive every purge", func() bool {
		return len(fast.requests()) == n && f.Stats().PerTarget[1].Sent == n
	})
	eventually(t, "the slow target's first request to arrive", func() bool { return len(slow.requests()) >= 1 })
	if got := len(slow.requests()); got != 1 {
		t.Errorf("slow target: %d requests arrived, want 1 (held)", got)
	}
	if s := f.Stats().PerTarget; s[0].Pending != n || s[1].Sent != n {
		t.Errorf("PerTarget = %+v, want slow Pending %d, fast Sent %d", s, n, n)
	}
	release()
	drain(t, f)
	if got := len(slow.requests()); got != n {
		t.Errorf("slow target after release: %d requests, want %d", got, n)
	}
}

func TestClose(t *testing.T) {
	t.Run("drains_pending", func(t *testing.T) {
		noLeaks(t)
		p := newPeer(t, func(http.ResponseWriter, *http.Request, int) { time.Sleep(2 * time.Millisecond) })
		f := start(t, Options{Targets: []Target{{URL: p.URL}}})
		for i := range 20 {
			f.Enqueue(Purge{Tags: []string{fmt.Sprint(i)}})
		}
		drain(t, f)
		if got := len(p.requests()); got != 20 {
			t.Errorf("delivered %d, want 20", got)
		}
		if s := f.Stats(); s.Sent != 20 || s.Pending != 0 || s.Dropped != 0 {
			t.Errorf("Stats = %+v, want Sent 20, nothing pending or dropped", s)
		}
	})

	t.Run("ctx_error_when_not_drained", func(t *testing.T) {
		noLeaks(t)
		p, _ := newBlockedPeer(t)
		f := start(t, Options{Targets: []Target{{URL: p.URL}}})
		for i := range 5 {
			f.Enqueue(Purge{Tags: []string{fmt.Sprint(i)}})
		}
		<-p.arrived
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		begin := time.Now()
		err := f.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want %v", err, context.DeadlineExceeded)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Errorf("Close took %v after its context ended", d)
		}
		if s := f.Stats(); s.Dropped != 5 || s.Pending != 0 || s.Sent != 0 {
			t.Errorf("Stats = %+v, want 5 dropped (1 aborted in flight, 4 queued), none pending", s)
		}
		if err := f.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
	})

	t.Run("aborts_retry_wait", func(t *testing.T) {
		noLeaks(t)
		p := newPeer(t, statuses([]int{503}, nil))
		f := start(t, Options{
			Targets: []Target{{URL: p.URL}},
			Backoff: func(int) time.Duration { return time.Hour }, // the real timer-based Sleep
		})
		f.Enqueue(Purge{All: true})
		<-p.arrived
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := f.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want %v", err, context.DeadlineExceeded)
		}
		if s := f.Stats(); s.Dropped != 1 || s.Failed != 0 {
			t.Errorf("Stats = %+v, want the waiting purge dropped", s)
		}
	})

	t.Run("idempotent_and_concurrent", func(t *testing.T) {
		noLeaks(t)
		p := newPeer(t, nil)
		f := start(t, Options{Targets: []Target{{URL: p.URL}, {URL: p.URL}}})
		f.Enqueue(Purge{All: true})
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Go(func() { errs[i] = f.Close(context.Background()) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Close #%d = %v, want nil", i, err)
			}
		}
		if err := f.Close(context.Background()); err != nil {
			t.Errorf("Close after Close = %v, want nil", err)
		}
		if got := len(p.requests()); got != 2 {
			t.Errorf("delivered %d, want 2", got)
		}
	})

	t.Run("enqueue_after_close_is_dropped", func(t *testing.T) {
		noLeaks(t)
		p := newPeer(t, nil)
		f := start(t, Options{Targets: []Target{{URL: p.URL}}})
		drain(t, f)
		f.Enqueue(Purge{All: true})
		if s := f.Stats(); s.Dropped != 1 || s.Pending != 0 {
			t.Errorf("Stats = %+v, want Dropped 1, Pending 0", s)
		}
		if got := len(p.requests()); got != 0 {
			t.Errorf("delivered %d after Close, want 0", got)
		}
	})

	t.Run("never_started", func(t *testing.T) {
		noLeaks(t)
		f, err := New(Options{Targets: []Target{{URL: "http://127.0.0.1:1/"}}})
		if err != nil {
			t.Fatal(err)
		}
		f.Enqueue(Purge{All: true})
		f.Enqueue(Purge{All: true})
		if err := f.Close(context.Background()); err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
		f.Start() // after Close: does nothing
		if s := f.Stats(); s.Dropped != 2 || s.Pending != 0 {
			t.Errorf("Stats = %+v, want Dropped 2, Pending 0", s)
		}
	})

	t.Run("start_twice", func(t *testing.T) {
		noLeaks(t)
		p := newPeer(t, nil)
		f := start(t, Options{Targets: []Target{{URL: p.URL}}})
		f.Start()
		f.Enqueue(Purge{All: true})
		drain(t, f)
		if got := len(p.requests()); got != 1 {
			t.Errorf("delivered %d, want 1", got)
		}
	})
}

func TestNilAndEmptyFanout(t *testing.T) {
	noLeaks(t)
	var f *Fanout
	f.Start()
	f.Enqueue(Purge{All: true})
	if err := f.Close(context.Background()); err != nil {
		t.Errorf("nil Close = %v", err)
	}
	if s := f.Stats(); s.Sent != 0 || s.PerTarget != nil {
		t.Errorf("nil Stats = %+v", s)
	}

	empty, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	empty.Start()
	empty.Enqueue(Purge{All: true})
	if err := empty.Close(context.Background()); err != nil {
		t.Errorf("Close with no targets = %v", err)
	}
}

// TestLogsHoldNoSecrets checks that neither header values nor a URL's query reach the log,
// whether a target answers an error or cannot be reached.
func TestLogsHoldNoSecrets(t *testing.T) {
	noLeaks(t)
	refusing := newPeer(t, nil)
	refusing.Close()
	failing := newPeer(t, statuses([]int{500, 400}, nil))
	var logs lockedBuffer
	f := start(t, Options{
		Targets: []Target{
			{URL: failing.URL + "/purge?token=SECRET-QUERY", Headers: map[string]string{"Authorization": "Bearer SECRET-HEADER"}},
			{URL: "http://user:SECRET-PASSWORD@" + strings.TrimPrefix(refusing.URL, "http://") + "/?token=SECRET-QUERY"},
		},
		MaxRetries: 1,
		Sleep:      (&sleeps{}).sleep,
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	f.Enqueue(Purge{Tags: []string{"t"}})
	drain(t, f)

	out := logs.String()
	if !strings.Contains(out, "purge not delivered") || !strings.Contains(out, "target="+failing.URL+"/purge") {
		t.Errorf("log lacks the failures:\n%s", out)
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("log holds a secret:\n%s", out)
	}
	if s := f.Stats(); s.Failed != 2 || s.Retried != 2 {
		t.Errorf("Stats = %+v, want Failed 2, Retried 2", s)
	}
}
