package natsbus

import (
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/gateway"
)

// member is one Join.
type member struct {
	id         string // this Bus's instance and a counter: unique across the fleet
	deliver    func(gateway.Purge)
	lost       func()
	joinedDown bool // joined before the first connection was up
	left       atomic.Bool
}

// Join implements gateway.Bus. Several members of one Bus hear each other,
// as members of separate processes do (the purges go through the server
// and come back); a process normally joins once (gateway.LocalBus fans
// purges out to its own handlers).
func (b *Bus) Join(deliver func(gateway.Purge), lost func()) (publish func(gateway.Purge), leave func()) {
	b.mu.Lock()
	b.next++
	m := &member{id: b.instance + "-" + strconv.Itoa(b.next), deliver: deliver, lost: lost, joinedDown: !b.everUp}
	b.members[m] = struct{}{}
	b.mu.Unlock()
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

// publish queues p for the other members, never blocking.
func (b *Bus) publish(m *member, p gateway.Purge) {
	if m.left.Load() {
		b.drop(errClosed)
		return
	}
	body, err := encode(envelope{Node: b.o.Node, Member: m.id, Purge: p})
	if err == nil && int64(len(body)) > b.nc.MaxPayload() && b.nc.MaxPayload() > 0 {
		err = fmt.Errorf("purge of %d bytes exceeds the server's max_payload %d", len(body), b.nc.MaxPayload())
	}
	if err != nil {
		b.drop(err)
		return
	}
	select {
	case <-b.closing:
		b.drop(errClosed)
		return
	default:
	}
	select {
	case b.queue <- body:
	default:
		b.drop(errQueueFull)
	}
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
	others := b.others(e.Member)
	if len(others) == 0 {
		return // this member's own purge, back from the server
	}
	b.received.Add(1)
	for _, m := range others {
		m.deliver(e.Purge)
	}
}

// others returns the members but the one with ID except.
func (b *Bus) others(except string) []*member {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*member, 0, len(b.members))
	for m := range b.members {
		if m.id != except {
			out = append(out, m)
		}
	}
	return out
}

// lostAll tells every member that purges may have passed it by.
func (b *Bus) lostAll(reason string) { b.tell(b.others(""), reason) }

func (b *Bus) tell(members []*member, reason string) {
	b.lost.Add(1)
	b.o.Logger.Warn("natsbus: purges may have been missed; the members stop trusting what they hold", "reason", reason)
	for _, m := range members {
		if m.lost != nil {
			m.lost()
		}
	}
}
