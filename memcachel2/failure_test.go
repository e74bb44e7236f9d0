package memcachel2

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/tiertest"
	"github.com/moatproxy/moat/internal/leaktest"
	"github.com/moatproxy/moat/memcachel2/memcachedtest"
)

// noLeaks: see leaktest.Check.
var noLeaks = leaktest.Check

// fill stores n entries and returns them by key.
func fill(t *testing.T, tier *Tier, n int) map[string]*cache.Entry {
	t.Helper()
	entries := make(map[string]*cache.Entry, n)
	for i := range n {
		key := fmt.Sprintf("GET http://api.example/items/%d", i)
		e := tiertest.FullEntry(t, key, time.Now())
		if err := tier.Set(context.Background(), key, e); err != nil {
			t.Fatalf("Set(%q): %v", key, err)
		}
		entries[key] = e
	}
	return entries
}

// timedGet is Get under ctx, and how long it took.
func timedGet(ctx context.Context, tier *Tier, key string) (*cache.Entry, error, time.Duration) {
	start := time.Now()
	e, err := tier.Get(ctx, key)
	return e, err, time.Since(start)
}

// TestPoolServerKilled: when one server of a pool dies, Gets of its keys
// fail (the gateway's miss) at once, without waiting for Timeout; the
// others' keys still hit; and once it is back, its keys miss (it came back
// empty) and are stored again.
func TestPoolServerKilled(t *testing.T) {
	noLeaks(t)
	pool := []*memcachedtest.Server{memcachedtest.Start(t), memcachedtest.Start(t), memcachedtest.Start(t)}
	const timeout = 500 * time.Millisecond
	tier := testTier(t, Options{Timeout: timeout}, pool...)
	entries := fill(t, tier, 300)
	victim := 1
	ctx := context.Background()
	pool[victim].Kill()

	var lost, fast int
	for key, want := range entries {
		e, err, took := timedGet(ctx, tier, key)
		if took >= timeout {
			t.Errorf("Get(%q) took %v with a server down, want under Timeout (%v)", key, took, timeout)
		}
		if tier.ring.server(tier.itemName(key)) != victim {
			if err != nil || e == nil {
				t.Fatalf("Get(%q) of a live server's key = (%v, %v), want a hit", key, e, err)
			}
			if d := tiertest.Diff(want, e); d != "" {
				t.Fatalf("Get(%q) differs:\n%s", key, d)
			}
			continue
		}
		lost++
		if e != nil {
			t.Fatalf("Get(%q) of a dead server's key returned an entry", key)
		}
		if err == nil {
			t.Fatalf("Get(%q) of a dead server's key: err = nil, want an error", key)
		}
		if errors.Is(err, ErrServerDown) {
			fast++
		}
	}
	if lost < 60 || lost > 140 {
		t.Errorf("the dead server held %d of 300 keys, want about 100", lost)
	}
	// The first Get takes the idle connection the fill left, which fails
	// without saying whether the server is gone; the second cannot
	// connect, and the server is taken as down.
	if fast < lost-2 {
		t.Errorf("%d of the dead server's %d Gets failed with ErrServerDown, want all but the first two", fast, lost)
	}
	var victimKey string
	for key := range entries {
		if tier.ring.server(tier.itemName(key)) == victim {
			victimKey = key
			break
		}
	}
	if err := tier.Set(ctx, victimKey, entries[victimKey]); err == nil {
		t.Error("Set on a dead server: err = nil")
	}
	if err := tier.Delete(ctx, victimKey); err == nil {
		t.Error("Delete on a dead server: err = nil")
	}

	pool[victim].Restart(t)
	deadline := time.Now().Add(5 * time.Second)
	for {
		e, err := tier.Get(ctx, victimKey)
		if err == nil {
			if e != nil {
				t.Fatal("a restarted server returned an entry: it comes back empty")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get after the server came back: still %v after 5s (downFor is %v)", err, downFor)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := tier.Set(ctx, victimKey, entries[victimKey]); err != nil {
		t.Fatalf("Set once the server is back: %v", err)
	}
	if e, err := tier.Get(ctx, victimKey); err != nil || e == nil {
		t.Fatalf("Get once the server is back = (%v, %v), want the entry", e, err)
	}
}

// TestHungServer: a server that accepts connections but answers nothing
// (SIGSTOP) costs each call at most its deadline or Timeout, whichever is
// shorter; after a few calls it is taken as down and calls to it fail at
// once; the pool's other server still answers; once it answers again it is
// used again; and Close does not wait longer than the calls in flight.
func TestHungServer(t *testing.T) {
	noLeaks(t)
	hung, live := memcachedtest.Start(t), memcachedtest.Start(t)
	const timeout = 200 * time.Millisecond
	tier := testTier(t, Options{Timeout: timeout}, hung, live)
	entries := fill(t, tier, 40)
	var hungKey, liveKey string
	for key := range entries {
		if tier.ring.server(tier.itemName(key)) == 0 {
			hungKey = key
		} else {
			liveKey = key
		}
	}
	hung.Freeze()

	// Slack for a loaded machine under -race.
	const slack = 150 * time.Millisecond
	t.Run("bounded_by_timeout", func(t *testing.T) {
		_, err, took := timedGet(context.Background(), tier, hungKey)
		if err == nil || took > timeout+slack {
			t.Errorf("Get from a hung server: (%v) after %v, want an error within Timeout (%v)", err, took, timeout)
		}
	})
	t.Run("bounded_by_context", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err, took := timedGet(ctx, tier, hungKey)
		if !errors.Is(err, context.DeadlineExceeded) || took > 20*time.Millisecond+slack {
			t.Errorf("Get from a hung server under a 20ms deadline: (%v) after %v, want DeadlineExceeded at 20ms", err, took)
		}
	})
	t.Run("taken_as_down", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err, took := timedGet(context.Background(), tier, hungKey)
			if errors.Is(err, ErrServerDown) {
				if took > slack {
					t.Errorf("Get from a server taken as down took %v, want at once", took)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a hung server is not taken as down after 5s of timeouts (last: %v)", err)
			}
		}
	})
	t.Run("others_still_answer", func(t *testing.T) {
		if e, err := tier.Get(context.Background(), liveKey); err != nil || e == nil {
			t.Errorf("Get from the live server = (%v, %v), want the entry", e, err)
		}
	})
	t.Run("used_again_once_it_answers", func(t *testing.T) {
		hung.Thaw()
		deadline := time.Now().Add(5 * time.Second)
		for {
			e, err := tier.Get(context.Background(), hungKey)
			if err == nil && e != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Get from a thawed server: still (%v, %v) after 5s", e, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("close_is_prompt", func(t *testing.T) {
		hung.Freeze()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		_, _, _ = timedGet(ctx, tier, hungKey) // leaves a call in flight
		start := time.Now()
		if err := tier.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// The call in flight ends at its socket deadlines: a write and a
		// read of Timeout each, at most.
		if took := time.Since(start); took > 2*timeout+slack {
			t.Errorf("Close took %v with a call in flight, want at most %v", took, 2*timeout)
		}
		if _, err := tier.Get(context.Background(), liveKey); !errors.Is(err, ErrClosed) {
			t.Errorf("Get after Close: err = %v, want ErrClosed", err)
		}
	})
}
