package memcachel2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// result is what a gomemcache call returned.
type result struct {
	item *memcache.Item
	err  error
}

// call runs op, a gomemcache call on the item named name, and returns what
// it returned, or an error once ctx or Timeout ends, whichever comes first.
// memcache.ErrCacheMiss is returned as is; other errors name the server.
//
// gomemcache takes no context, so op runs in a goroutine of its own, owned
// by the Tier (Close waits for it). It ends at most Timeout after each of
// its network steps (gomemcache's socket deadlines), answered or not. A
// call given up on may still land after its caller returned: a Set stored,
// a Delete applied, out of order with the caller's next call. That is a
// plain tier's lot anyway (any write can be late), and the gateway's rules
// for one cover it: an entry that a purge should have removed is not
// vouched for by a node that heard of the purge or started after it.
func (t *Tier) call(ctx context.Context, name string, op func() (*memcache.Item, error)) (*memcache.Item, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	srv := t.ring.server(name)
	h := &t.health[srv]
	if h.down() {
		return nil, fmt.Errorf("%w: %s", ErrServerDown, t.ring.addrs[srv])
	}
	t.mu.RLock()
	if t.closed {
		t.mu.RUnlock()
		return nil, ErrClosed
	}
	t.calls.Add(1)
	t.mu.RUnlock()

	done := make(chan result, 1)
	go func() {
		defer t.calls.Done()
		it, err := op()
		h.learn(err)
		done <- result{it, err}
	}()
	if deadline, ok := ctx.Deadline(); !ok || time.Until(deadline) > t.timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	select {
	case r := <-done:
		if r.err != nil && !errors.Is(r.err, memcache.ErrCacheMiss) {
			return nil, fmt.Errorf("memcachel2: %s: %w", t.ring.addrs[srv], r.err)
		}
		return r.item, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("memcachel2: %s: %w", t.ring.addrs[srv], ctx.Err())
	}
}

// A server is taken to be down for downFor after a failure to connect to
// it, or after downAfterTimeouts calls in a row that it did not answer in
// time: calls to it then fail at once (ErrServerDown) instead of each
// waiting for a server that is not there, and after downFor the next
// calls try it again. Its keys miss meanwhile; they are not moved to other
// servers, where they would be stale once it is back.
const (
	downFor           = time.Second
	downAfterTimeouts = 3
)

// serverHealth is what calls have learned of one server.
type serverHealth struct {
	timeouts  atomic.Int32 // calls in a row that timed out
	downUntil atomic.Int64 // UnixNano; 0: up
}

func (h *serverHealth) down() bool {
	until := h.downUntil.Load()
	return until != 0 && time.Now().UnixNano() < until
}

// learn records how a call ended. An answer, even an error reply, says the
// server is up; a connection closed under a call (a server restarted since
// the connection was made idle) says nothing either way.
func (h *serverHealth) learn(err error) {
	if err == nil || isReply(err) {
		if h.timeouts.Load() != 0 || h.downUntil.Load() != 0 { // no writes to shared lines on the hot path
			h.timeouts.Store(0)
			h.downUntil.Store(0)
		}
		return
	}
	var ne net.Error
	var ce *memcache.ConnectTimeoutError
	var oe *net.OpError
	switch {
	case errors.As(err, &ce), errors.As(err, &oe) && oe.Op == "dial":
		h.markDown()
	case errors.As(err, &ne) && ne.Timeout():
		if h.timeouts.Add(1) >= downAfterTimeouts {
			h.markDown()
		}
	}
}

func (h *serverHealth) markDown() {
	h.timeouts.Store(0)
	h.downUntil.Store(time.Now().Add(downFor).UnixNano())
}

// isReply reports whether err is memcached's answer rather than a failure
// to get one.
func isReply(err error) bool {
	switch {
	case errors.Is(err, memcache.ErrCacheMiss), errors.Is(err, memcache.ErrNotStored),
		errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrMalformedKey):
		return true
	}
	return isErrorReply(err)
}

// isErrorReply reports whether err is gomemcache's error for a reply it
// does not know, such as SERVER_ERROR: it has no type of its own.
func isErrorReply(err error) bool {
	return strings.Contains(err.Error(), "unexpected response line")
}

// isTooLarge reports whether err is memcached's refusal of an item larger
// than its -I.
func isTooLarge(err error) bool {
	return isErrorReply(err) && strings.Contains(err.Error(), "too large")
}
