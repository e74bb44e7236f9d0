package redisevents

import (
	"sync/atomic"

	"github.com/moatproxy/moat/internal/events"
)

// queue holds the pub/sub messages received and not yet delivered, up to
// a number of messages and of payload bytes. push never waits: a message
// that does not fit is refused (the caller drops it). One message larger
// than the byte bound is taken when the queue is empty, so that it is not
// refused for ever.
type queue struct {
	ch       chan events.Message
	maxBytes int64
	bytes    atomic.Int64 // payload bytes of the messages in ch

	// The most messages and bytes ever held at once (tests check the
	// bounds with them).
	peakLen, peakBytes atomic.Int64
}

func newQueue(maxLen int, maxBytes int64) *queue {
	return &queue{ch: make(chan events.Message, maxLen), maxBytes: maxBytes}
}

// push queues m, or reports false if it does not fit.
func (q *queue) push(m events.Message) bool {
	n := int64(len(m.Data))
	// Adding before checking keeps the bound even if two connections'
	// readers were to push at once (each counts the other's bytes).
	total := q.bytes.Add(n)
	if total > q.maxBytes && len(q.ch) > 0 {
		q.bytes.Add(-n)
		return false
	}
	select {
	case q.ch <- m:
		raise(&q.peakLen, int64(len(q.ch)))
		raise(&q.peakBytes, total)
		return true
	default:
		q.bytes.Add(-n)
		return false
	}
}

// taken records that m left the queue.
func (q *queue) taken(m events.Message) { q.bytes.Add(-int64(len(m.Data))) }

// raise sets peak to v if v is larger.
func raise(peak *atomic.Int64, v int64) {
	for {
		old := peak.Load()
		if v <= old || peak.CompareAndSwap(old, v) {
			return
		}
	}
}
