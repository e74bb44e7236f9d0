package gateway

import (
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// fillBody reads a storable origin body into memory at the origin's pace,
// on a goroutine of its own, while the client reads it from that memory at
// its own pace. The fill therefore completes (stores the entry and wakes
// the requests coalesced on it) as soon as the origin has sent the body,
// however slowly the leading client reads: one client that stops reading
// must not hold every waiter of its key until CoalesceTimeout.
//
// A body that outgrows limit is not stored: reading into memory stops,
// abort is called, and the client goes on reading the rest straight from
// the origin.
//
// Lifecycle: drain runs on its own goroutine (or, for a small body of
// known length, before newFillBody returns: see syncFill) and owns src until the body
// ends (it closes src then) or outgrows limit (the client's reader owns
// src then, and Close closes it). The goroutine always ends: a client
// that leaves cancels the request context, which fails the read from the
// origin.
type fillBody struct {
	src    io.ReadCloser
	limit  int64
	budget *fillBudget            // bytes buffered by all fills at once
	held   int64                  // what this fill holds of budget
	store  func(body []byte) bool // at the end of a body within limit; reports whether it was kept
	abort  func(reason string)    // when the body will not be stored
	idle   time.Duration          // longest wait for the origin's next bytes (0: none)
	stall  func()                 // ends the origin request when idle passes

	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	end    error // io.EOF or the origin's read error; nil while reading
	over   bool  // the body outgrew limit
	stored bool  // store kept the entry (valid once end is io.EOF)
	sized  bool  // buf was made for the announced Content-Length
	sync   bool  // drained before newFillBody returned (see syncFill)
	busy   bool  // over because the fill budget was spent, not because of limit
	pos    int   // the client's read position in buf

	// The budget held for buf goes back once the drain is over and buf
	// either belongs to the cache (stored) or is no longer read (the client
	// read it all or went away): a client that reads slowly keeps what it
	// has not read yet within the budget.
	drained, readDone, closed, given bool
}

// newFillBody starts reading src. contentLength (-1 if unknown) sizes the
// buffer; a known length must already be held from budget (see
// fillBudget.take), and the fill gives it back when it ends.
func newFillBody(src io.ReadCloser, contentLength, limit int64, budget *fillBudget, idle time.Duration, stall func(), store func([]byte) bool, abort func(string)) *fillBody {
	b := &fillBody{src: src, limit: limit, budget: budget, idle: idle, stall: stall, store: store, abort: abort}
	b.cond.L = &b.mu
	if contentLength >= 0 && contentLength <= limit {
		b.buf = make([]byte, 0, contentLength)
		b.sized = true
		b.held = contentLength
		if contentLength <= syncFill {
			// Small and of known length: read here, before the answer
			// starts (see syncFill).
			b.sync = true
			b.drain()
			return b
		}
	}
	go b.drain()
	return b
}

// syncFill is the largest body of announced length that a fill reads on
// the request's own goroutine, whole, before the answer to the client
// starts: most API answers, which arrive with their header or right after
// it. Like a body of unknown length under streamAfter, the client gets it
// once the origin has sent it all (as nginx buffers), the entry is stored
// and the coalesced requests woken before the first byte is written to
// the client, and a miss saves the goroutine, its wake-ups and its locks.
// Larger bodies stream to the client as they arrive, drained on a goroutine
// of their own.
const syncFill = streamAfter

// fillBudget bounds the bytes that all fills buffer at once, so that many
// concurrent misses of large bodies cannot hold more memory than the cache
// was given (DESIGN invariant 4). A fill that cannot take what it needs is
// not stored: its body streams through, as a too-large one does. The zero
// value (or nil) has no bound.
type fillBudget struct {
	max  int64
	used atomic.Int64
}

// take reserves n bytes, or reports that they are not available.
func (fb *fillBudget) take(n int64) bool {
	if fb == nil || fb.max <= 0 || n <= 0 {
		return true
	}
	if fb.used.Add(n) > fb.max {
		fb.used.Add(-n)
		return false
	}
	return true
}

// give returns n bytes taken earlier.
func (fb *fillBudget) give(n int64) {
	if fb != nil && fb.max > 0 && n > 0 {
		fb.used.Add(-n)
	}
}

const fillChunk = 32 << 10

// settle gives the budget back when it is no longer needed (see the
// fields); b.mu is held.
func (b *fillBody) settle() {
	if b.given || !b.drained || !(b.stored || b.readDone || b.closed) {
		return
	}
	b.given = true
	b.budget.give(b.held)
	if !b.stored {
		b.buf = nil
	}
}

func (b *fillBody) drain() {
	var one [1]byte
	var timer *time.Timer
	if b.idle > 0 && b.stall != nil {
		timer = time.AfterFunc(b.idle, b.stall)
		timer.Stop()
		defer timer.Stop()
	}
	defer func() {
		b.mu.Lock()
		b.drained = true
		b.settle()
		b.mu.Unlock()
	}()
	for {
		b.mu.Lock()
		if len(b.buf) == cap(b.buf) && !b.sized {
			// Grow by doubling (amortized O(n) copies), never past
			// limit+1: one byte more is enough to know it is too large.
			n := max(min(max(2*cap(b.buf), fillChunk), int(b.limit)+1), len(b.buf)+1)
			if !b.budget.take(int64(n) - b.held) {
				// Other fills hold the budget: this one streams through.
				b.over, b.busy = true, true
				b.cond.Broadcast()
				b.mu.Unlock()
				b.abort("")
				return
			}
			b.held = int64(n)
			grown := make([]byte, len(b.buf), n)
			copy(grown, b.buf)
			b.buf = grown
		}
		tail := b.buf[len(b.buf):cap(b.buf)]
		b.mu.Unlock()
		if len(tail) == 0 {
			tail = one[:] // to see io.EOF after the announced Content-Length
		}
		if timer != nil {
			timer.Reset(b.idle) // an origin that stalls mid-body ends the fill
		}
		n, err := b.src.Read(tail)
		if timer != nil {
			timer.Stop()
		}
		b.mu.Lock()
		if n > 0 && &tail[0] == &one[0] {
			b.buf = append(b.buf, one[0]) // longer than announced: let the limit decide
		} else {
			b.buf = b.buf[:len(b.buf)+n]
		}
		if int64(len(b.buf)) > b.limit {
			b.over = true
			b.end = err
			b.cond.Broadcast()
			b.mu.Unlock()
			b.abort("too-large")
			return
		}
		if err == nil {
			b.cond.Broadcast()
			b.mu.Unlock()
			continue
		}
		body := b.buf
		b.mu.Unlock()
		stored := false
		if err == io.EOF {
			if cap(body) != len(body) {
				body = append(make([]byte, 0, len(body)), body...) // exact size: the budget counts it
			}
			stored = b.store(body)
		} else {
			b.abort("")
		}
		_ = b.src.Close()
		b.mu.Lock()
		b.end, b.stored = err, stored
		if err == io.EOF {
			b.buf = body // the exact copy: the grow buffer goes (and, stored, the cache holds it)
		}
		b.cond.Broadcast()
		b.mu.Unlock()
		return
	}
}

// streamAfter is how much of a body of unknown length is read before the
// answer starts without knowing whether the body will be stored: smaller
// bodies (most API answers) get a Cache-Status that says it; larger ones
// stream to the client as the origin sends them, as a large download or a
// handler's export must.
const streamAfter = 64 << 10

// wait blocks until the body has ended, outgrown the limit or passed
// streamAfter bytes. It reports whether the body was stored, and whether
// that is known (false: the body goes on, and may still be stored).
func (b *fillBody) wait() (stored, known bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.end == nil && !b.over && len(b.buf) < streamAfter {
		b.cond.Wait()
	}
	return b.stored, b.end != nil || b.over
}

// Read gives the client the body at its own pace.
func (b *fillBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	for b.pos == len(b.buf) && b.end == nil && !b.over {
		b.cond.Wait()
	}
	if b.pos < len(b.buf) {
		n := copy(p, b.buf[b.pos:])
		b.pos += n
		b.mu.Unlock()
		return n, nil
	}
	end := b.end
	b.readDone = true // all of buf read: the rest, if any, comes from the origin
	b.settle()
	b.mu.Unlock()
	if end != nil {
		return 0, end
	}
	return b.src.Read(p)
}

// Close is called when the client is done. The origin body stays open for
// the drain unless the body was too large (then the client was reading it).
func (b *fillBody) Close() error {
	b.mu.Lock()
	over := b.over
	b.closed = true
	b.settle()
	b.mu.Unlock()
	if over {
		return b.src.Close()
	}
	return nil
}
