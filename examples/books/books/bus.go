package books

import (
	"sync"

	"github.com/moatproxy/moat/gateway"
)

// processBus is the bus of the Caches of one process. It hands a purge one
// Cache publishes to the others at once, on the publishing goroutine, so
// that when Invalidate returns every Cache of the process has dropped what
// it names: a client reads its own writes. It joins the fleet's bus (Redis)
// once for them all: one reader, one message per purge.
//
// Each Cache joining the fleet's bus on its own would do neither: the
// other Caches of the process would hear the purge back from Redis a few
// milliseconds later, after the write's response had gone.
type processBus struct {
	mu      sync.Mutex
	members map[int]busMember
	next    int

	// fleet publishes to the other processes; nil without a fleet bus.
	fleet      func(gateway.Purge)
	leaveFleet func()
}

type busMember struct {
	deliver func(gateway.Purge)
	lost    func()
}

var _ gateway.Bus = (*processBus)(nil)

// newProcessBus returns a processBus on fleet, which may be nil (one
// process). Close leaves fleet.
func newProcessBus(fleet gateway.Bus) *processBus {
	b := &processBus{members: map[int]busMember{}}
	if fleet != nil {
		b.fleet, b.leaveFleet = fleet.Join(b.fromFleet, b.lost)
	}
	return b
}

// Join implements gateway.Bus.
func (b *processBus) Join(deliver func(gateway.Purge), lost func()) (publish func(gateway.Purge), leave func()) {
	b.mu.Lock()
	id := b.next
	b.next++
	b.members[id] = busMember{deliver, lost}
	b.mu.Unlock()
	publish = func(p gateway.Purge) {
		for _, m := range b.snapshot(id) {
			m.deliver(p)
		}
		if b.fleet != nil {
			b.fleet(p)
		}
	}
	leave = func() {
		b.mu.Lock()
		delete(b.members, id)
		b.mu.Unlock()
	}
	return publish, leave
}

// snapshot returns the members but except, so that they are called without
// the lock held.
func (b *processBus) snapshot(except int) []busMember {
	b.mu.Lock()
	defer b.mu.Unlock()
	ms := make([]busMember, 0, len(b.members))
	for id, m := range b.members {
		if id != except {
			ms = append(ms, m)
		}
	}
	return ms
}

// fromFleet delivers another process's purge to every member.
func (b *processBus) fromFleet(p gateway.Purge) {
	for _, m := range b.snapshot(-1) {
		m.deliver(p)
	}
}

// lost tells every member that the fleet's bus may have lost purges.
func (b *processBus) lost() {
	for _, m := range b.snapshot(-1) {
		m.lost()
	}
}

// Close leaves the fleet's bus. It is idempotent (the fleet's leave is).
func (b *processBus) Close() {
	if b.leaveFleet != nil {
		b.leaveFleet()
	}
}
