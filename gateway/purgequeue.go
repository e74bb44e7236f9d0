package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/moatproxy/moat/cache"
)

// purgeQueue applies this node's purges to L2 and then publishes them on
// the Bus, one at a time and in order, on a goroutine of its own: a write
// never waits for Redis, a purge that L2 could not take is tried again
// until it does (an L2 entry a purge covers would otherwise be served to
// the nodes that start later), and a purge is on the Bus only once L2 holds
// none of what it covers. What does not fit in the queue is published at
// once, counted as an L2 purge error.
type purgeQueue struct {
	h     *Handler
	jobs  chan purgeJob
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	drain time.Duration
}

type purgeJob struct {
	inv   cache.Invalidation
	p     Purge
	first chan error // receives the first attempt's result, if someone waits
}

const (
	purgeQueueLen   = 4096
	purgeRetryFirst = 50 * time.Millisecond
	purgeRetryMax   = 2 * time.Second
	purgeDrain      = 3 * time.Second // how long Close lets queued purges go out
)

func newPurgeQueue(h *Handler) *purgeQueue {
	q := &purgeQueue{h: h, jobs: make(chan purgeJob, purgeQueueLen), stop: make(chan struct{}), done: make(chan struct{}), drain: purgeDrain}
	go q.run()
	return q
}

// add queues a purge. With wait, it returns the first attempt's error
// (bounded by the L2 purge deadline); the purge is retried after it
// anyway.
func (q *purgeQueue) add(ctx context.Context, inv cache.Invalidation, p Purge, wait bool) error {
	j := purgeJob{inv: inv, p: p}
	if wait {
		j.first = make(chan error, 1)
	}
	select {
	case q.jobs <- j:
	default:
		q.h.l2.PurgeErrors.Add(1)
		q.h.log.Error("purge queue full: purge published without reaching L2")
		q.publish(p)
		return errPurgeQueueFull
	}
	if !wait {
		return nil
	}
	select {
	case err := <-j.first:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *purgeQueue) run() {
	defer close(q.done)
	for {
		select {
		case j := <-q.jobs:
			q.do(j)
		case <-q.stop:
			deadline := time.After(q.drain)
			for {
				select {
				case j := <-q.jobs:
					q.do(j)
				case <-deadline:
					q.dropRest()
					return
				default:
					return
				}
			}
		}
	}
}

// do applies one purge to L2, retrying until it takes it (closing: a few
// more times at most), then publishes it.
func (q *purgeQueue) do(j purgeJob) {
	wait := purgeRetryFirst
	for attempt := 0; ; attempt++ {
		err := q.h.l2.invalidate(context.Background(), j.inv)
		if err == nil {
			q.publish(j.p)
			if attempt == 0 && j.first != nil {
				j.first <- nil // published: an API purge returns after the Bus has it
			}
			return
		}
		if attempt == 0 && j.first != nil {
			j.first <- err
		}
		if q.closed() && attempt >= 3 {
			q.h.log.Error("purge not applied to L2 before shutdown", "err", err)
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-q.stop:
			t.Stop()
		}
		wait = min(2*wait, purgeRetryMax)
	}
	q.publish(j.p) // given up on L2: the other nodes hear of it, at least
}

func (q *purgeQueue) closed() bool {
	select {
	case <-q.stop:
		return true
	default:
		return false
	}
}

func (q *purgeQueue) publish(p Purge) {
	if q.h.publish != nil {
		q.h.publish(p)
	}
}

func (q *purgeQueue) dropRest() {
	for {
		select {
		case j := <-q.jobs:
			q.h.l2.PurgeErrors.Add(1)
			q.publish(j.p) // the other nodes hear of it, at least
		default:
			return
		}
	}
}

// close lets the queued purges go out, for at most the drain time.
func (q *purgeQueue) close() {
	q.once.Do(func() { close(q.stop) })
	<-q.done
}

var errPurgeQueueFull = errors.New("gateway: purge queue full: L2 not purged")
