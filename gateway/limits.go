package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/policy"
)

// limiter bounds concurrent origin requests, with a bounded queue of
// waiters. A nil *limiter admits everything.
type limiter struct {
	sem      chan struct{}
	queued   atomic.Int64
	maxQueue int64
	wait     time.Duration
}

func newLimiter(n, queue int, wait time.Duration) *limiter {
	if n <= 0 {
		return nil
	}
	return &limiter{sem: make(chan struct{}, n), maxQueue: int64(queue), wait: wait}
}

// acquire takes a slot, waiting in the queue when there is room in it and
// wait allows; background work never queues.
func (l *limiter) acquire(ctx context.Context, background bool) bool {
	if l == nil {
		return true
	}
	select {
	case l.sem <- struct{}{}:
		return true
	default:
	}
	if background {
		return false
	}
	if l.queued.Add(1) > l.maxQueue {
		l.queued.Add(-1)
		return false
	}
	defer l.queued.Add(-1)
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	case <-t.C:
		return false
	}
}

func (l *limiter) release() {
	if l != nil {
		<-l.sem
	}
}

// limits are the global and per-route origin concurrency limits.
type limits struct {
	global *limiter
	routes map[*policy.Policy]*limiter
}

func newLimits(global, queue int, wait time.Duration, pols []*policy.Policy) *limits {
	ls := &limits{global: newLimiter(global, queue, wait), routes: map[*policy.Policy]*limiter{}}
	for _, p := range pols {
		if l := newLimiter(p.MaxOriginConcurrency, queue, wait); l != nil {
			ls.routes[p] = l
		}
	}
	return ls
}

// acquire takes a route slot, then a global one. release must be called
// when ok.
func (ls *limits) acquire(ctx context.Context, pol *policy.Policy, background bool) (release func(), ok bool) {
	route := ls.routes[pol]
	if !route.acquire(ctx, background) {
		return nil, false
	}
	if !ls.global.acquire(ctx, background) {
		route.release()
		return nil, false
	}
	if route == nil && ls.global == nil {
		return noop, true
	}
	return func() { ls.global.release(); route.release() }, true
}

func noop() {}
