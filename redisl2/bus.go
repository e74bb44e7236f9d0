package redisl2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/gateway"
)

// BusOptions configure a Bus.
type BusOptions struct {
	// Retention is about how many purges the stream keeps (MAXLEN ~): a
	// node cut off for longer than it takes the fleet to publish that many
	// cannot replay what it missed and drops what it holds. Default
	// 100,000.
	Retention int
	// Grace is how long the reader may fail before the node stops trusting
	// what it holds (it may be missing purges), and again each Grace while
	// it fails. Default 5s.
	Grace time.Duration
	// Queue bounds the purges waiting to be published (while Redis is
	// away); past it they are dropped and counted. Default 10,000.
	Queue int
	// Logger receives the bus's warnings. Default slog.Default().
	Logger *slog.Logger
}

// Bus is the purge bus in one Redis Stream (see gateway.Bus): each purge
// is one entry with a sequence number taken in the same script (INCR and
// XADD in the stream's slot); each node reads the stream from the last
// entry it saw (XREAD BLOCK), so a node that reconnects replays what it
// missed, and a hole or a step back in the sequence (entries trimmed
// before it read them, a Redis that lost data) tells it that it may have
// missed purges: it calls lost, and the gateway stops trusting what it
// holds.
type Bus struct {
	c *Client
	o BusOptions

	mu      sync.Mutex
	members map[*member]struct{}

	Published, Delivered, Dropped, Gaps, Errors atomic.Int64
	// LastSeen is the UnixNano of the reader's last successful round.
	LastSeen atomic.Int64
}

var _ gateway.Bus = (*Bus)(nil)

// Bus returns a purge bus on the client.
func (c *Client) Bus(o BusOptions) *Bus {
	if o.Retention <= 0 {
		o.Retention = 100_000
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.Queue <= 0 {
		o.Queue = 10_000
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Bus{c: c, o: o}
}

func (b *Bus) logKey() string { return b.c.prefix + "{bus}:log" }
func (b *Bus) seqKey() string { return b.c.prefix + "{bus}:seq" }

var publishScript = rueidis.NewLuaScript(`
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'seq', seq, 'node', ARGV[1], 'k', ARGV[4], 'p', ARGV[2])
return seq`)

// Timing of the reader and the publisher.
const (
	busBlock      = time.Second           // XREAD BLOCK
	busCallExtra  = 2 * time.Second       // deadline beyond the block
	busRetryFirst = 50 * time.Millisecond // backoff after a failure
	busRetryMax   = 1 * time.Second
	busCount      = 512 // entries per XREAD
)

// Join implements gateway.Bus: it starts the member's reader and its
// publisher, and returns at once (the reader finds its place in the
// stream on its own goroutine).
func (b *Bus) Join(deliver func(gateway.Purge), lost func()) (publish func(gateway.Purge), leave func()) {
	var id [8]byte
	_, _ = rand.Read(id[:])
	m := &member{b: b, node: hex.EncodeToString(id[:]), deliver: deliver, lost: lost,
		queue: make(chan []byte, b.o.Queue), stop: make(chan struct{}), leaving: make(chan struct{}),
		sent: make(chan struct{}), joined: time.Now()}
	b.mu.Lock()
	if b.members == nil {
		b.members = map[*member]struct{}{}
	}
	b.members[m] = struct{}{}
	b.mu.Unlock()
	m.wg.Add(1)
	go m.read()
	go m.send()
	var once sync.Once
	return m.publish, func() {
		once.Do(func() {
			// The purges still queued go first, for a while; then a
			// goodbye, so that the other nodes do not take this node's
			// silence for purges it could not send.
			close(m.leaving)
			t := time.NewTimer(leaveDrain)
			select {
			case <-m.sent:
			case <-t.C:
			}
			t.Stop()
			close(m.stop)
			<-m.sent
		})
		m.wg.Wait()
		b.mu.Lock()
		delete(b.members, m)
		b.mu.Unlock()
	}
}

// leaveDrain bounds how long leaving waits to send the queued purges.
const leaveDrain = 3 * time.Second

type member struct {
	b       *Bus
	node    string
	deliver func(gateway.Purge)
	lost    func()
	queue   chan []byte   // purges (JSON); a nil body is a heartbeat
	stop    chan struct{} // closed to end the member
	leaving chan struct{} // closed when leave starts: the publisher drains, says goodbye and ends
	sent    chan struct{} // closed when the publisher has ended
	wg      sync.WaitGroup
	joined  time.Time
	ownSeen atomic.Int64 // UnixNano: this member's last heartbeat read back

	mu    sync.Mutex
	nodes map[string]time.Time // the other nodes heard on the bus, and when
}

// heartbeatEvery is how often a member publishes a heartbeat: the other
// nodes learn it is there, and it proves to itself that what it publishes
// comes back on its reader (a reader stuck on a demoted master would keep
// answering "nothing new" while the fleet writes elsewhere).
func (b *Bus) heartbeatEvery() time.Duration { return max(b.o.Grace/3, 200*time.Millisecond) }

func (m *member) publish(p gateway.Purge) {
	body, err := json.Marshal(p)
	if err != nil {
		m.b.o.Logger.Error("purge bus: purge not encoded", "err", err)
		return
	}
	select {
	case m.queue <- body:
	default:
		m.b.Dropped.Add(1)
		m.b.o.Logger.Error("purge bus: publish queue full, purge not sent to the other nodes")
	}
}

// send publishes queued purges in order, retrying each until Redis takes it
// or the member leaves.
func (m *member) send() {
	defer close(m.sent)
	m.put("hb", nil) // hello: the other nodes know of this one from now on
	hb := time.NewTicker(m.b.heartbeatEvery())
	defer hb.Stop()
	leaving := m.leaving
	for {
		var body []byte
		kind := "purge"
		select {
		case <-m.stop:
			m.dropQueued()
			return
		case body = <-m.queue:
		case <-hb.C:
			kind = "hb"
		case <-leaving:
			select {
			case body = <-m.queue: // drain first
			default:
				if m.put("bye", nil) {
					return
				}
				leaving = nil // Redis away: wait for the leave's deadline
				continue
			}
		}
		for !m.put(kind, body) {
			if kind == "hb" {
				break // a heartbeat is not retried: the next one will do
			}
			if !m.sleep(busRetryMax / 4) {
				m.Drop(1)
				m.dropQueued()
				return
			}
		}
	}
}

// put sends one bus entry, once.
func (m *member) put(kind string, body []byte) bool {
	rc, err := m.b.c.r()
	if err == nil {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), busCallExtra)
		err = publishScript.Exec(ctx, rc, []string{m.b.logKey(), m.b.seqKey()},
			[]string{m.node, string(body), strconv.Itoa(m.b.o.Retention), kind}).Error()
		cancel()
		m.b.c.observed("publish", start, &err)
	}
	if err != nil {
		m.b.Errors.Add(1)
		return false
	}
	if kind == "purge" {
		m.b.Published.Add(1)
	}
	return true
}

// Drop counts n purges that will never be sent.
func (m *member) Drop(n int) {
	m.b.Dropped.Add(int64(n))
	m.b.o.Logger.Error("purge bus: purges not sent to the other nodes", "count", n)
}

func (m *member) dropQueued() {
	if n := len(m.queue); n > 0 {
		m.Drop(n)
	}
}

// sleep waits d, or reports false when the member leaves first.
func (m *member) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-m.stop:
		return false
	case <-t.C:
		return true
	}
}

// cursor is where a reader is in the stream.
type cursor struct {
	id  string // last entry read
	seq int64  // its sequence number; -1 until one is known
}

// read follows the stream until the member leaves.
func (m *member) read() {
	defer m.wg.Done()
	cur := cursor{id: "", seq: -1}
	failingSince := time.Time{}
	lastLost := time.Time{}
	wait := busRetryFirst
	for {
		select {
		case <-m.stop:
			return
		default:
		}
		var err error
		if cur.id == "" {
			cur, err = m.tail()
			if err == nil {
				m.replay(cur.id)
			}
			if err == nil && !failingSince.IsZero() {
				// The node ran without a place in the stream: purges
				// published meanwhile were not read.
				m.gap(-1, cur.seq)
			}
		} else {
			err = m.round(&cur)
		}
		if err == nil {
			m.silentNodes()
		}
		if err == nil && m.deaf() {
			// Reading "nothing new" from a server the fleet may no longer
			// write to: find the stream's end again (a gap if it moved
			// back), and fail until this node's heartbeats come back.
			err = errDeaf
			cur = cursor{}
		}
		if err == nil {
			m.b.LastSeen.Store(time.Now().UnixNano())
			if !failingSince.IsZero() {
				// Back: the round replayed what was missed (or found a gap).
				// Check the stream did not lose history the replay cannot
				// show (a Redis that restarted empty).
				if err = m.verify(&cur); err == nil {
					failingSince = time.Time{}
					m.heardAllNow()
					wait = busRetryFirst
					continue
				}
			} else {
				continue
			}
		}
		m.b.Errors.Add(1)
		now := time.Now()
		if failingSince.IsZero() {
			failingSince = now
			m.b.o.Logger.Warn("purge bus: reading failed", "err", err)
		}
		if now.Sub(failingSince) >= m.b.o.Grace && now.Sub(lastLost) >= m.b.o.Grace {
			// Purges may be passing this node by: stop trusting what it
			// holds, now and each Grace while this lasts.
			lastLost = now
			m.lost()
		}
		if !m.sleep(wait) {
			return
		}
		wait = min(2*wait, busRetryMax)
	}
}

// errDeaf says the reader has not read back the member's own heartbeat for
// longer than the grace: it may be reading a server the fleet no longer
// writes to.
var errDeaf = errors.New("purge bus: this node's heartbeats do not come back")

// deaf reports whether the member's heartbeats have stopped coming back.
func (m *member) deaf() bool {
	last := m.ownSeen.Load()
	if last == 0 {
		last = m.joined.UnixNano()
	}
	return time.Since(time.Unix(0, last)) > m.b.o.Grace+m.b.heartbeatEvery()
}

// left forgets a node that said goodbye: its silence is not a loss.
func (m *member) left(node string) {
	m.mu.Lock()
	delete(m.nodes, node)
	m.mu.Unlock()
}

// heardAllNow gives every known node a fresh wait: after this member could
// not read for a while, their silence meanwhile says nothing.
func (m *member) heardAllNow() {
	m.mu.Lock()
	now := time.Now()
	for n := range m.nodes {
		m.nodes[n] = now
	}
	m.mu.Unlock()
}

// silentNodes calls lost once for each node whose heartbeats stopped
// without a goodbye: it may have accepted purges it could not send (cut
// off from Redis, then gone), which no gap would show. A node that stops
// without leaving (a crash, a kill) costs the others their trust in what
// they hold, once.
func (m *member) silentNodes() {
	limit := m.b.o.Grace + 2*m.b.heartbeatEvery()
	now := time.Now()
	var gone []string
	m.mu.Lock()
	for n, t := range m.nodes {
		if now.Sub(t) > limit {
			gone = append(gone, n)
			delete(m.nodes, n)
		}
	}
	m.mu.Unlock()
	for _, n := range gone {
		m.b.o.Logger.Warn("purge bus: a node went silent without leaving; it may have purges it never sent", "node", n)
		m.b.Gaps.Add(1)
		m.lost()
	}
}

// saw records that another node was heard on the bus.
func (m *member) saw(node string) {
	if node == "" || node == m.node {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.nodes == nil {
		m.nodes = map[string]time.Time{}
	}
	if _, ok := m.nodes[node]; !ok && len(m.nodes) >= maxNodes {
		return
	}
	m.nodes[node] = time.Now()
}

// maxNodes bounds the nodes a member keeps track of.
const maxNodes = 4096

// Nodes returns the nodes heard on the bus by its members (themselves
// included), with when each was last heard.
func (b *Bus) Nodes() map[string]time.Time {
	out := map[string]time.Time{}
	b.mu.Lock()
	defer b.mu.Unlock()
	for m := range b.members {
		out[m.node] = time.Now()
		m.mu.Lock()
		for n, t := range m.nodes {
			if t.After(out[n]) {
				out[n] = t
			}
		}
		m.mu.Unlock()
	}
	return out
}

// tail finds the stream's last entry: the reader starts after it.
func (m *member) tail() (cursor, error) {
	ctx, cancel := context.WithTimeout(context.Background(), busCallExtra)
	defer cancel()
	c, err := m.b.c.r()
	if err != nil {
		return cursor{}, err
	}
	entries, err := c.Do(ctx, c.B().Xrevrange().Key(m.b.logKey()).End("+").Start("-").Count(1).Build()).AsXRange()
	if err != nil {
		return cursor{}, err
	}
	if len(entries) == 0 {
		return cursor{id: "0-0", seq: -1}, nil
	}
	return cursor{id: entries[0].ID, seq: entrySeq(entries[0].FieldValues)}, nil
}

// replayWindow is how far back a member that joins reads the bus: the
// other nodes' heartbeats tell it who is there (so that their silence
// counts), and the purges of that time are stamped here, so that entries
// they covered, still in L2 or in flight to it, are not vouched for.
func (b *Bus) replayWindow() time.Duration {
	return max(b.o.Grace+2*b.heartbeatEvery(), 2*time.Minute)
}

// replay applies the entries of the last replayWindow up to last (the
// stream's end when the member joined), without sequence checks.
func (m *member) replay(last string) {
	if last == "0-0" {
		return
	}
	c, err := m.b.c.r()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), busCallExtra)
	defer cancel()
	from := strconv.FormatInt(time.Now().Add(-m.b.replayWindow()).UnixMilli(), 10) + "-0"
	entries, err := c.Do(ctx, c.B().Xrange().Key(m.b.logKey()).Start(from).End(last).Count(replayMax).Build()).AsXRange()
	if err != nil {
		m.b.o.Logger.Warn("purge bus: recent purges not replayed", "err", err)
		return
	}
	for _, e := range entries {
		m.apply(e)
	}
}

// replayMax bounds the entries a joining member replays.
const replayMax = 20_000

// apply handles one entry: a goodbye, a heartbeat, or a purge from
// another node (delivered).
func (m *member) apply(e rueidis.XRangeEntry) {
	node := e.FieldValues["node"]
	switch e.FieldValues["k"] {
	case "bye":
		m.left(node)
		return
	case "hb":
		if node == m.node {
			m.ownSeen.Store(time.Now().UnixNano())
		}
		m.saw(node)
		return
	}
	if node == m.node {
		return // our own
	}
	m.saw(node)
	var p gateway.Purge
	if err := json.Unmarshal([]byte(e.FieldValues["p"]), &p); err != nil {
		m.b.o.Logger.Error("purge bus: an entry could not be read; dropping what this node holds", "id", e.ID, "err", err)
		m.lost()
		return
	}
	m.b.Delivered.Add(1)
	m.deliver(p)
}

// round reads the entries after cur (blocking up to busBlock) and applies
// them.
func (m *member) round(cur *cursor) error {
	ctx, cancel := context.WithTimeout(context.Background(), busBlock+busCallExtra)
	defer cancel()
	c, err := m.b.c.r()
	if err != nil {
		return err
	}
	streams, err := c.Do(ctx, c.B().Xread().Count(busCount).Block(busBlock.Milliseconds()).Streams().Key(m.b.logKey()).Id(cur.id).Build()).AsXRead()
	if rueidis.IsRedisNil(err) {
		return nil // nothing new within the block
	}
	if err != nil {
		return err
	}
	for _, e := range streams[m.b.logKey()] {
		seq := entrySeq(e.FieldValues)
		if cur.seq >= 0 && seq != cur.seq+1 {
			m.gap(cur.seq, seq)
		}
		cur.id, cur.seq = e.ID, seq
		m.apply(e)
	}
	return nil
}

// verify runs after the reader got back: if the stream now ends before the
// last entry this node read, Redis lost history (a restart without
// persistence, a failover to a replica that was behind), purges may be
// lost with it, and the reader starts again from the stream's end.
func (m *member) verify(cur *cursor) error {
	t, err := m.tail()
	if err != nil {
		return err
	}
	if t.id == "0-0" || compareIDs(t.id, cur.id) < 0 {
		m.gap(cur.seq, t.seq)
		*cur = t
	}
	return nil
}

func (m *member) gap(last, got int64) {
	m.b.Gaps.Add(1)
	m.b.o.Logger.Warn("purge bus: purges may have been missed; dropping what this node holds", "last_seq", last, "next_seq", got)
	m.lost()
}

func entrySeq(fv map[string]string) int64 {
	n, err := strconv.ParseInt(fv["seq"], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// compareIDs orders two stream IDs ("ms-seq").
func compareIDs(a, b string) int {
	pa, pb := splitID(a), splitID(b)
	for i := range 2 {
		switch {
		case pa[i] < pb[i]:
			return -1
		case pa[i] > pb[i]:
			return 1
		}
	}
	return 0
}

func splitID(id string) [2]uint64 {
	ms, seq, _ := strings.Cut(id, "-")
	a, _ := strconv.ParseUint(ms, 10, 64)
	b, _ := strconv.ParseUint(seq, 10, 64)
	return [2]uint64{a, b}
}
