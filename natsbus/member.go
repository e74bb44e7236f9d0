package natsbus

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/gateway"
)

// member is one Join, and the stream of purges it sends.
type member struct {
	id         string // this Bus's instance and a counter: unique across the fleet, and a new stream per process
	deliver    func(gateway.Purge)
	lost       func()
	joinedDown bool // joined before the first connection was up
	left       atomic.Bool

	head    []byte    // its envelopes' opening (node and member)
	born    time.Time // Age and Prior count from here
	skipped atomic.Uint64

	// Owned by the send goroutine: the stream's numbers.
	seq    uint64 // the last number taken (purges handed over or dropped)
	seqAt  uint64 // the member's age (µs) when seq was taken
	told   uint64 // the highest number a message handed to the client carried
	tailed uint64 // the number the last tail handed to the client carried
}

// age is the member's age in µs.
func (m *member) age() uint64 { return uint64(time.Since(m.born).Microseconds()) }

// fold takes the numbers of the purges dropped before the send goroutine
// could number them (on the send goroutine).
func (m *member) fold() {
	if n := m.skipped.Swap(0); n > 0 {
		m.seq += n
		m.seqAt = m.age() // they were dropped by now
	}
}

// Join implements gateway.Bus. Several members of one Bus hear each other,
// as members of separate processes do (the purges go through the server
// and come back); a process normally joins once (gateway.LocalBus fans
// purges out to its own handlers).
func (b *Bus) Join(deliver func(gateway.Purge), lost func()) (publish func(gateway.Purge), leave func()) {
	b.mu.Lock()
	b.next++
	id := b.instance + "-" + strconv.Itoa(b.next)
	m := &member{id: id, deliver: deliver, lost: lost, joinedDown: !b.everUp, head: head(b.o.Node, id), born: time.Now()}
	b.members[m] = struct{}{}
	b.streams[m] = struct{}{}
	b.mu.Unlock()
	b.firstJoin.CompareAndSwap(never, mono())
	publish = func(p gateway.Purge) { b.publish(m, p) }
	leave = func() {
		m.left.Store(true)
		b.mu.Lock()
		delete(b.members, m)
		b.mu.Unlock()
	}
	return publish, leave
}

// errClosed and errQueueFull say why a purge was dropped.
var (
	errClosed    = errors.New("the bus is closed or the member left")
	errQueueFull = errors.New("publish queue full (NATS slow or away)")
)

// outgoing is a purge waiting for the send goroutine, which numbers it.
type outgoing struct {
	m    *member
	body []byte // withPurge: the envelope but its stamp
}

// publish queues p for the other members, never blocking. A purge it
// drops still takes a number (skipped), so that the receivers see the gap.
func (b *Bus) publish(m *member, p gateway.Purge) {
	if m.left.Load() {
		b.skip(m, errClosed)
		return
	}
	body, err := withPurge(m.head, p)
	if max := b.nc.MaxPayload(); err == nil && max > 0 && int64(len(body)+stampRoom) > max {
		err = fmt.Errorf("purge of %d bytes exceeds the server's max_payload %d", len(body)+stampRoom, max)
	}
	if err != nil {
		b.skip(m, err)
		return
	}
	select {
	case <-b.closing:
		b.skip(m, errClosed)
		return
	default:
	}
	select {
	case b.queue <- outgoing{m, body}:
	default:
		b.skip(m, errQueueFull)
	}
}

// skip drops a purge before it was numbered: its number is taken when the
// send goroutine next numbers the member's messages, and a tail goes out
// as soon as the queue is empty.
func (b *Bus) skip(m *member, err error) {
	m.skipped.Add(1)
	b.owed.Store(true)
	select {
	case b.wake <- struct{}{}:
	default:
	}
	b.drop(err)
}

// receive handles one message of the subject, on the subscription's
// goroutine: purges reach the members in the order the server sent them.
func (b *Bus) receive(msg *natsgo.Msg) {
	e, err := decode(msg.Data)
	if err != nil {
		b.malformed.Add(1)
		b.malformedWarn.do(func(n int64) {
			b.o.Logger.Warn("natsbus: message on the purge subject dropped", "err", err, "bytes", len(msg.Data),
				"dropped_since_last_log", n)
		})
		return
	}
	tail := e.Purge == nil
	v, was, evictedAt := b.heard.see(e.Member, e.Seq, tail)
	switch v {
	case duplicate:
		b.duplicates.Add(1)
		b.duplicateWarn.do(func(n int64) {
			b.o.Logger.Warn("natsbus: purge heard twice or out of order, dropped", "from_node", e.Node,
				"from_member", e.Member, "seq", e.Seq, "last_heard", was, "dropped_since_last_log", n)
		})
		return
	case skipped, first:
		// Numbers were never heard here. Whether that needs telling depends
		// on when they were taken, which bound puts no later than: a lost
		// since then covers them; and for a stream heard first now, so do
		// the moments before this Bus listened, before its first member
		// joined, and before it last forgot a stream (it may have heard
		// them then).
		floor := b.lastLost.Load()
		if v == first {
			floor = max(floor, b.listenSince.Load(), b.firstJoin.Load(), evictedAt)
		}
		if e.bound(mono()) > floor {
			b.gap(e, was, v == first)
		}
	}
	if tail {
		return
	}
	others, _ := b.others(e.Member)
	if len(others) == 0 {
		return // this member's own purge, back from the server
	}
	b.received.Add(1)
	for _, m := range others {
		m.deliver(*e.Purge)
	}
}

// gap tells the members but the sender that they missed purges of e's
// stream.
func (b *Bus) gap(e envelope, was uint64, first bool) {
	members, all := b.others(e.Member)
	if len(members) == 0 {
		return // this member's own stream
	}
	b.gaps.Add(1)
	b.tell(members, all, &b.gapWarn, "a purge bus sender's numbers skipped: purges were lost on the way or dropped by the sender",
		"from_node", e.Node, "from_member", e.Member, "seq", e.Seq, "last_heard", was, "first_heard", first)
}

// others returns the members but the one with ID except, and whether
// that is every member.
func (b *Bus) others(except string) ([]*member, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*member, 0, len(b.members))
	for m := range b.members {
		if m.id != except {
			out = append(out, m)
		}
	}
	return out, len(out) == len(b.members)
}

// lostAll tells every member that purges may have passed it by.
func (b *Bus) lostAll(reason string) {
	members, _ := b.others("")
	b.tell(members, true, nil, reason)
}

// tell calls members' lost. all says they are every member: then purges
// taken until now are covered (lastLost), and gaps found later among them
// need no telling again. warn, if set, limits the log.
func (b *Bus) tell(members []*member, all bool, warn *limiter, reason string, attrs ...any) {
	if all {
		b.lastLost.Store(mono()) // before lost is called: the members distrust from a later moment
	}
	b.lost.Add(1)
	log := func(n int64) {
		b.o.Logger.Warn("natsbus: purges may have been missed; the members stop trusting what they hold",
			append([]any{"reason", reason, "told_since_last_log", n}, attrs...)...)
	}
	if warn != nil {
		warn.do(log)
	} else {
		log(1)
	}
	for _, m := range members {
		if m.lost != nil {
			m.lost()
		}
	}
}
