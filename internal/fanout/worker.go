package fanout

import (
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// worker is one target's queue and counters. Its goroutine (Fanout.run) is the only consumer.
type worker struct {
	typ     string
	name    string      // the target's endpoint without credentials, for logs and Stats
	adapter adapter     // speaks the target's API
	header  http.Header // the configured headers, canonicalized once
	timeout time.Duration
	wake    chan struct{} // capacity 1: "the queue changed", coalesced

	// warned holds the kinds of purge the target cannot express that were logged. Only the
	// worker goroutine (Fanout.run, via deliver) uses it, so it needs no lock.
	warned map[string]bool

	mu          sync.Mutex
	q           queue
	closed      bool // Close was called: no more pushes, and the worker exits once q is empty
	overflowing bool // a drop was logged since q was last empty

	inFlight                                    atomic.Int64
	sent, retried, failed, dropped, unsupported atomic.Int64
}

func newWorker(t Target, size int, now func() time.Time) *worker {
	w := &worker{
		typ:     t.kind(),
		name:    endpoint(t),
		adapter: newAdapter(t, now),
		warned:  map[string]bool{},
		header:  make(http.Header, len(t.Headers)),
		timeout: t.Timeout,
		wake:    make(chan struct{}, 1),
		q:       newQueue(size),
	}
	for k, v := range t.Headers {
		w.header.Set(k, v)
	}
	if w.timeout == 0 {
		w.timeout = DefaultTimeout
	}
	return w
}

// signal wakes the worker goroutine if it is waiting; it never blocks.
func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) enqueue(j job, log *slog.Logger) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		w.dropped.Add(1)
		log.Debug("purge dropped: fan-out is closed", "target", w.name, "id", j.id)
		return
	}
	dropped := w.q.push(j)
	firstDrop := dropped && !w.overflowing
	if dropped {
		w.overflowing = true
	}
	w.mu.Unlock()
	w.signal()
	if dropped {
		w.dropped.Add(1)
	}
	if firstDrop {
		log.Warn("purge queue full: dropping the oldest purges until it empties (counted in stats)",
			"target", w.name, "queue_size", cap(w.q.buf))
	}
}

// next removes the oldest job and marks it in flight, or reports whether the worker should
// exit (the queue is empty and closed).
func (w *worker) next() (j job, ok, exit bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	j, ok = w.q.pop()
	if ok {
		// Under the lock, so that Stats never sees the job in neither place.
		w.inFlight.Add(1)
	}
	if w.q.len() == 0 {
		w.overflowing = false
	}
	return j, ok, !ok && w.closed
}

// close refuses further pushes and wakes the worker so that it can exit once drained.
func (w *worker) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
}

// drop empties the queue, counting its jobs as dropped, and returns how many there were.
func (w *worker) drop() int {
	w.mu.Lock()
	n := w.q.clear()
	w.mu.Unlock()
	w.dropped.Add(int64(n))
	return n
}

func (w *worker) stats() TargetStats {
	w.mu.Lock()
	pending := w.q.len() + int(w.inFlight.Load())
	w.mu.Unlock()
	return TargetStats{
		Target:      w.name,
		Type:        w.typ,
		Sent:        w.sent.Load(),
		Retried:     w.retried.Load(),
		Failed:      w.failed.Load(),
		Dropped:     w.dropped.Load(),
		Unsupported: w.unsupported.Load(),
		Pending:     pending,
	}
}

// run is w's goroutine: it delivers w's jobs one at a time, in order, until Close.
//
// It exits when the queue is empty after Close (the drain is done), or as soon as f.ctx is
// cancelled (Close gave up); Close counts what is left in the queue.
func (f *Fanout) run(w *worker) {
	defer func() {
		if f.live.Add(-1) == 0 {
			f.finish()
		}
	}()
	for f.ctx.Err() == nil {
		j, ok, exit := w.next()
		if exit {
			return
		}
		if !ok {
			select {
			case <-w.wake:
			case <-f.ctx.Done():
			}
			continue
		}
		f.deliver(w, j)
		w.inFlight.Add(-1)
	}
}
