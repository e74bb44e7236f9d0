package cache

import (
	"context"
	"sync"
	"time"
)

// Group coalesces concurrent fills of one key: the first caller becomes the
// leader and fetches; later callers wait for it and then look the key up
// again.
//
// It differs from golang.org/x/sync/singleflight on purpose: waiters do not
// receive the leader's result. The leader's response may vary on request
// headers the waiters do not share (Vary), or be uncacheable and meant for
// the leader alone, so each waiter re-reads the cache under its own key and,
// if nothing usable was stored, goes to the origin itself.
//
// WARNING: the key must carry everything that scopes a response (tier,
// user, vary dimensions known in advance); a Group keyed by URL alone makes
// waiters of different scopes wait on each other, and a caller that skipped
// the re-lookup would be handed another scope's answer.
//
// The zero value is ready to use.
type Group struct {
	mu    sync.Mutex
	calls map[string]*Call
}

// Call is one in-progress fill.
type Call struct {
	done    chan struct{}
	waiters int
	failure *Entry // set by Fail before Done
}

// Fail records, before Done, the answer the waiters get instead of looking
// the key up again: the origin failed (an error or a 5xx), and each waiter
// asking it again would multiply the load on a failing origin by the
// number of waiters. e is never stored.
func (c *Call) Fail(e *Entry) { c.failure = e }

// Failure returns what Fail recorded, or nil. Call it only after Wait
// reported that the leader finished.
func (c *Call) Failure() *Entry { return c.failure }

// Join registers the caller for key. If leader is true the caller must call
// Done(key, c) when its fill has been stored or has failed (use defer: a
// leader that panics must still release its waiters).
func (g *Group) Join(key string) (c *Call, leader bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if c, ok := g.calls[key]; ok {
		c.waiters++
		return c, false
	}
	if g.calls == nil {
		g.calls = make(map[string]*Call)
	}
	c = &Call{done: make(chan struct{})}
	g.calls[key] = c
	return c, true
}

// Done ends the leader's call and wakes its waiters. It returns how many
// requests waited.
func (g *Group) Done(key string, c *Call) int {
	g.mu.Lock()
	if g.calls[key] == c {
		delete(g.calls, key)
	}
	n := c.waiters
	g.mu.Unlock()
	close(c.done)
	return n
}

// Wait blocks until the leader is done, ctx ends or timeout passes (0 means
// no timeout). It reports whether the leader finished.
func (c *Call) Wait(ctx context.Context, timeout time.Duration) bool {
	if timeout <= 0 {
		select {
		case <-c.done:
			return true
		case <-ctx.Done():
			return false
		}
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

// Pending returns the number of keys with a fill in progress.
func (g *Group) Pending() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}
