package gateway

import (
	"sync"
	"time"
)

// Bus carries purges between the nodes that share a cache, so that an
// invalidation made through any node is applied by every node (DESIGN
// invariant 5). Options.OnPurge is the other way out, to the layers in
// front of moat (CDNs, Varnish); a purge goes to both.
//
// LocalBus is the in-process implementation (several handlers in one
// process); redisl2.Bus, a Redis Stream, implements it across processes.
type Bus interface {
	// Join adds a node. deliver receives every purge another member
	// publishes (not the node's own); lost is called when the bus may have
	// lost purges meant for the node (a reconnect whose replay fell short),
	// and the node then stops vouching for what it holds. publish sends a
	// purge to the other members and must not block the request path;
	// leave ends the membership.
	Join(deliver func(Purge), lost func()) (publish func(Purge), leave func())
}

// LocalBus is a Bus for the members of one process (handlers, aside
// Caches): publish calls the other members' deliver at once, on the
// publishing goroutine, so that when a purge returns every member of the
// process has applied it (a client reads its own writes). With a fleet bus
// (NewLocalBus), it also joins that bus once for all its members: their
// purges go to the other processes, theirs come to every member, and a
// loss on the fleet bus is every member's. The zero value is a bus of one
// process.
type LocalBus struct {
	mu      sync.Mutex
	members map[int]busMember
	next    int

	fleet      func(Purge) // publishes to the other processes; nil: none
	leaveFleet func()
}

type busMember struct {
	deliver func(Purge)
	lost    func()
}

var _ Bus = (*LocalBus)(nil)

// NewLocalBus returns a LocalBus on fleet (nil: one process alone). Close
// leaves fleet.
func NewLocalBus(fleet Bus) *LocalBus {
	b := &LocalBus{}
	if fleet != nil {
		b.fleet, b.leaveFleet = fleet.Join(func(p Purge) { b.deliver(-1, p) }, b.lost)
	}
	return b
}

// Join adds a member (see Bus). Without a fleet bus, nothing is lost.
func (b *LocalBus) Join(deliver func(Purge), lost func()) (publish func(Purge), leave func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.members == nil {
		b.members = map[int]busMember{}
	}
	id := b.next
	b.next++
	b.members[id] = busMember{deliver, lost}
	publish = func(p Purge) {
		b.deliver(id, p)
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

// deliver hands p to every member but except, without the lock held.
func (b *LocalBus) deliver(except int, p Purge) {
	for _, m := range b.others(except) {
		m.deliver(p)
	}
}

// lost tells every member that the fleet bus may have lost purges.
func (b *LocalBus) lost() {
	for _, m := range b.others(-1) {
		if m.lost != nil {
			m.lost()
		}
	}
}

func (b *LocalBus) others(except int) []busMember {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]busMember, 0, len(b.members))
	for id, m := range b.members {
		if id != except {
			out = append(out, m)
		}
	}
	return out
}

// Close leaves the fleet bus, if any. It is idempotent when the fleet
// bus's leave is.
func (b *LocalBus) Close() {
	if b.leaveFleet != nil {
		b.leaveFleet()
	}
}

// distrust is called when the bus may have lost purges: every entry this
// node holds, and every L2 entry stored until now, may have been purged
// without its knowing, so none is served again (lookup treats L1 entries
// stored before now as misses) and none is promoted from L2. Keys do not
// change, so the node goes on sharing L2 with the others.
func (h *Handler) distrust() {
	now := h.now()
	raiseTime(&h.distrustBefore, now.UnixNano())
	h.gens.distrust(now)          // fills in flight store nothing
	go h.current().loadVersions() // route purges may have been lost too
	if h.l2 != nil {
		h.l2.distrustUntil(now)
	}
	h.stats.Distrusts.Add(1)
	h.log.Warn("purges may have been lost: cached entries are no longer trusted", "at", h.now().Format(time.RFC3339))
}
