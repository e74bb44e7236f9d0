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

	mu    sync.Mutex
	nodes map[string]time.Time // nodes heard on the bus, and when

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
		queue: make(chan []byte, b.o.Queue), stop: make(chan struct{}), joined: time.Now()}
	m.wg.Add(2)
	go m.read()
	go m.send()
	var once sync.Once
	return m.publish, func() {
		once.Do(func() { close(m.stop) })
		m.wg.Wait()
	}
}

type member struct {
	b       *Bus
	node    string
	deliver func(gateway.Purge)
	lost    func()
	queue   chan []byte // purges (JSON); a nil body is a heartbeat
	stop    chan struct{}
	wg      sync.WaitGroup
	joined  time.Time
	ownSeen atomic.Int64 // UnixNano: this member's last heartbeat read back
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
	defer m.wg.Done()
	retention := strconv.Itoa(m.b.o.Retention)
	hb := time.NewTicker(m.b.heartbeatEvery())
	defer hb.Stop()
	for {
		var body []byte
		select {
		case <-m.stop:
			return
		case body = <-m.queue:
		case <-hb.C: // body nil: a heartbeat
		}
		kind := "purge"
		if body == nil {
			kind = "hb"
		}
		wait := busRetryFirst
		for {
			rc, err := m.b.c.r()
			if err == nil {
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), busCallExtra)
				err = publishScript.Exec(ctx, rc, []string{m.b.logKey(), m.b.seqKey()}, []string{m.node, string(body), retention, kind}).Error()
				cancel()
				m.b.c.observed("publish", start, &err)
			}
			if err == nil {
				if body != nil {
					m.b.Published.Add(1)
				}
				break
			}
			if body == nil {
				break // a heartbeat is not retried: the next one will do
			}
			m.b.Errors.Add(1)
			if !m.sleep(wait) {
				return
			}
			wait = min(2*wait, busRetryMax)
		}
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
		} else {
			err = m.round(&cur)
		}
		if err == nil && m.deaf() {
			err = errDeaf
		}
		if err == nil {
			m.b.LastSeen.Store(time.Now().UnixNano())
			if !failingSince.IsZero() {
				// Back: the round replayed what was missed (or found a gap).
				// Check the stream did not lose history the replay cannot
				// show (a Redis that restarted empty).
				if err = m.verify(&cur); err == nil {
					failingSince = time.Time{}
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

// saw records that node was heard on the bus.
func (b *Bus) saw(node string) {
	if node == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nodes == nil {
		b.nodes = map[string]time.Time{}
	}
	now := time.Now()
	if _, ok := b.nodes[node]; !ok && len(b.nodes) >= maxNodes {
		for n, t := range b.nodes { // forget those not heard for long
			if now.Sub(t) > nodeForget {
				delete(b.nodes, n)
			}
		}
		if len(b.nodes) >= maxNodes {
			return
		}
	}
	b.nodes[node] = now
}

// Nodes heard on the bus are remembered for nodeForget, at most maxNodes.
const (
	maxNodes   = 4096
	nodeForget = 10 * time.Minute
)

// Nodes returns the nodes heard on the bus in the last nodeForget (their
// heartbeats and purges), with when each was last heard.
func (b *Bus) Nodes() map[string]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]time.Time, len(b.nodes))
	now := time.Now()
	for n, t := range b.nodes {
		if now.Sub(t) <= nodeForget {
			out[n] = t
		}
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
		node := e.FieldValues["node"]
		if e.FieldValues["k"] == "hb" {
			if node == m.node {
				m.ownSeen.Store(time.Now().UnixNano())
			}
			m.b.saw(node)
			continue
		}
		if node == m.node {
			continue // our own
		}
		m.b.saw(node)
		var p gateway.Purge
		if err := json.Unmarshal([]byte(e.FieldValues["p"]), &p); err != nil {
			m.b.o.Logger.Error("purge bus: an entry could not be read; dropping what this node holds", "id", e.ID, "err", err)
			m.lost()
			continue
		}
		m.b.Delivered.Add(1)
		m.deliver(p)
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
