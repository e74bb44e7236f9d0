package gateway

import (
	"context"
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

// LocalBus is a Bus for the handlers of one process: publish calls the
// other members' deliver at once, on the publishing goroutine. The zero
// value is ready to use.
type LocalBus struct {
	mu      sync.Mutex
	members map[int]func(Purge)
	next    int
}

var _ Bus = (*LocalBus)(nil)

// Join adds a member (see Bus). A LocalBus never loses a purge.
func (b *LocalBus) Join(deliver func(Purge), lost func()) (publish func(Purge), leave func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.members == nil {
		b.members = map[int]func(Purge){}
	}
	id := b.next
	b.next++
	b.members[id] = deliver
	publish = func(p Purge) {
		b.mu.Lock()
		others := make([]func(Purge), 0, len(b.members))
		for m, d := range b.members {
			if m != id {
				others = append(others, d)
			}
		}
		b.mu.Unlock()
		for _, d := range others {
			d(p)
		}
	}
	leave = func() {
		b.mu.Lock()
		delete(b.members, id)
		b.mu.Unlock()
	}
	return publish, leave
}

// fromBus applies a purge another node published: stamped, applied,
// counted (kind "remote"), and not published again.
func (h *Handler) fromBus(p Purge) {
	if _, err := h.purge(context.Background(), p, PurgeRemote); err != nil {
		h.log.Warn("purge from another node failed", "err", err)
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
	h.gens.distrust(now) // fills in flight store nothing
	go h.loadVersions()  // route purges may have been lost too
	if h.l2 != nil {
		h.l2.distrustUntil(now)
	}
	h.stats.Distrusts.Add(1)
	h.log.Warn("purges may have been lost: cached entries are no longer trusted", "at", h.now().Format(time.RFC3339))
}
