package natsbus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/gateway"
)

// Options configure a Bus.
type Options struct {
	// URL is the NATS server, nats://host:port (several, comma-separated).
	// Required.
	URL string
	// Subject carries the purges: the fleet's nodes share it, and another
	// fleet on the same NATS uses its own. Default "moat.purges".
	Subject string
	// Token, or Username and Password, authenticate.
	Token, Username, Password string
	// Node names this process on the bus (in the envelopes and the logs).
	// Default: random. Members tell their own purges by an ID of their
	// own, so two processes given the same Node still hear each other.
	Node string
	// Grace is how long the connection may stay down before the members
	// stop trusting what they hold, and again each Grace while it is down.
	// It is also how often a member that sent purges meanwhile sends a
	// tail (see the package comment). Default 5s.
	Grace time.Duration
	// Queue bounds the purges waiting for the NATS client; past it they
	// are dropped, counted, and the other nodes told. Default 10,000.
	Queue int
	// Logger receives the bus's warnings. Default slog.Default().
	Logger *slog.Logger
}

// DefaultSubject is the subject when Options.Subject is empty.
const DefaultSubject = "moat.purges"

// Client limits: the NATS client buffers at most reconnectBuf bytes of
// purges while disconnected (then publishing fails and is counted), and
// holds at most pendingMsgs/pendingBytes received messages the members
// have not taken yet (then it drops them and lost is called).
const (
	reconnectBuf = 8 << 20
	pendingMsgs  = 65_536
	pendingBytes = 64 << 20
	pingInterval = 5 * time.Second // a dead connection is noticed in about two
)

// ErrOptions says an Options field is wrong.
var ErrOptions = errors.New("natsbus: bad options")

// Bus is a purge bus on one NATS subject (see the package comment).
type Bus struct {
	o         Options
	instance  string // tells this Bus's members from those of another process
	nc        *natsgo.Conn
	sub       *natsgo.Subscription
	queue     chan outgoing
	wake      chan struct{} // the send goroutine: a purge was dropped, or tail every stream (force)
	closing   chan struct{}
	workers   sync.WaitGroup // sender and watcher
	closeOnce sync.Once

	mu      sync.Mutex
	members map[*member]struct{}
	streams map[*member]struct{} // the members the send goroutine may owe a tail: members, and those that left until it owes none
	next    int
	everUp  bool          // the connection was up once: members joining now hear from the start
	up      chan struct{} // closed when everUp is set

	downSince atomic.Int64 // UnixNano the connection went down (or New started); 0 while up

	// The send side's flags: a member has numbers no message handed over
	// carries (owed), and tail every stream (force: reconnected).
	owed, force atomic.Bool

	// The receive side's sequence checks (see receive). Moments on mono.
	heard       *senders
	listenSince atomic.Int64 // the subscription was first in place; never until then
	firstJoin   atomic.Int64 // the first Join; never until then
	lastLost    atomic.Int64 // every member was last told lost; 0: never

	published, received, dropped, malformed, lost, gaps, duplicates atomic.Int64
	tails                                                           atomic.Int64 // handed to the client (for tests)
	dropWarn, malformedWarn, gapWarn, duplicateWarn                 limiter
}

var _ gateway.Bus = (*Bus)(nil)

// BusStats are a Bus's counts since New.
type BusStats struct {
	Published int64 // purges handed to the NATS client
	Received  int64 // purges from other members delivered here
	Dropped   int64 // purges that could not be published (queue or client buffer full, too big, closed)
	Malformed int64 // messages on the subject that were no purge (too big, not an envelope, no sequence number), dropped
	Lost      int64 // times the members were told they may have missed purges (Gaps included)
	// Gaps counts the times a sender's numbers skipped some never heard
	// here, which no earlier lost covered: each told the members lost.
	Gaps int64
	// Duplicates counts purges numbered at or below the last heard from
	// their sender (heard twice, or out of order), dropped.
	Duplicates int64
	Senders    int // senders whose last number is remembered (at most 4,096)
	Connected  bool
}

// New connects to NATS and subscribes to the subject. It returns at once
// if the server is away: the client keeps trying, forever, in the
// background. It fails only on options the client rejects.
func New(o Options) (*Bus, error) {
	if o.URL == "" {
		return nil, fmt.Errorf("%w: URL is required, e.g. nats://127.0.0.1:4222", ErrOptions)
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.Node == "" {
		o.Node = randomID()
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
	o.Logger = o.Logger.With("bus", "nats", "node", o.Node)
	b := &Bus{o: o, instance: randomID(), queue: make(chan outgoing, o.Queue), wake: make(chan struct{}, 1),
		closing: make(chan struct{}), members: map[*member]struct{}{}, streams: map[*member]struct{}{},
		up: make(chan struct{}), heard: newSenders(maxSenders)}
	b.downSince.Store(time.Now().UnixNano()) // until the connect handler says otherwise
	b.listenSince.Store(never)
	b.firstJoin.Store(never)
	nc, err := natsgo.Connect(o.URL, b.clientOptions()...)
	if err != nil {
		return nil, fmt.Errorf("%w: URL: %w", ErrOptions, err)
	}
	b.nc = nc
	if nc.IsConnected() {
		// The connect handler is on its way: wait for it, so that members
		// joining from now on are known to hear from the start.
		t := time.NewTimer(2 * time.Second)
		select {
		case <-b.up:
		case <-t.C:
		}
		t.Stop()
	} else {
		o.Logger.Warn("natsbus: NATS is away; connecting in the background")
	}
	sub, err := nc.Subscribe(o.Subject, b.receive)
	if err == nil {
		err = sub.SetPendingLimits(pendingMsgs, pendingBytes)
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%w: Subject %q: %w", ErrOptions, o.Subject, err)
	}
	b.mu.Lock()
	b.sub = sub
	b.mu.Unlock()
	if nc.IsConnected() {
		// The subscription is in place once the server answers: purges
		// published from now on reach the members.
		b.listening(nc)
	}
	b.workers.Add(2)
	go b.send()
	go b.watch()
	return b, nil
}

func (b *Bus) clientOptions() []natsgo.Option {
	opts := []natsgo.Option{
		natsgo.Name("moat purge bus " + b.o.Node),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.ReconnectWait(time.Second),
		natsgo.ReconnectBufSize(reconnectBuf),
		natsgo.PingInterval(pingInterval),
		natsgo.ConnectHandler(b.connected),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err == nil {
				return // Close
			}
			b.downSince.CompareAndSwap(0, time.Now().UnixNano())
			b.o.Logger.Warn("natsbus: disconnected; purges may pass this node by", "err", err)
		}),
		natsgo.ReconnectHandler(func(c *natsgo.Conn) {
			b.listening(c) // the subscription is in place again
			b.downSince.Store(0)
			b.lostAll("reconnected: purges published meanwhile were not heard")
			// What this node wrote as the connection broke may be lost:
			// every stream sends its last number again.
			b.force.Store(true)
			select {
			case b.wake <- struct{}{}:
			default:
			}
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			if errors.Is(err, natsgo.ErrSlowConsumer) {
				b.lostAll("the client dropped purges: members are too slow")
				return
			}
			b.o.Logger.Warn("natsbus: NATS error", "err", err)
		}),
	}
	if b.o.Token != "" {
		opts = append(opts, natsgo.Token(b.o.Token))
	}
	if b.o.Username != "" {
		opts = append(opts, natsgo.UserInfo(b.o.Username, b.o.Password))
	}
	return opts
}

// connected runs when the first connection is up: the members that
// joined before may have cached without hearing purges.
func (b *Bus) connected(c *natsgo.Conn) {
	b.downSince.Store(0)
	b.mu.Lock()
	var early []*member
	if !b.everUp {
		b.everUp = true
		close(b.up)
		for m := range b.members {
			if m.joinedDown {
				early = append(early, m)
			}
		}
	}
	subscribed := b.sub != nil // else New subscribes, and calls listening, after this
	b.mu.Unlock()
	if subscribed {
		b.listening(c)
	}
	if len(early) > 0 {
		b.tell(early, false, nil, "connected after the members joined without NATS")
	}
}

// listening waits until the server has the subscription, then notes the
// moment, the first time: numbers taken since are heard here unless lost
// (see receive).
func (b *Bus) listening(c *natsgo.Conn) {
	if c.FlushTimeout(2*time.Second) == nil {
		b.listenSince.CompareAndSwap(never, mono())
	}
}

// send numbers queued purges and hands them to the client, and sends the
// tails, until Close; then it sends what is left. It alone numbers the
// members' messages, so they go out in the order of their numbers.
func (b *Bus) send() {
	defer b.workers.Done()
	t := time.NewTicker(b.o.Grace)
	defer t.Stop()
	for {
		select {
		case out := <-b.queue:
			b.put(out)
			if len(b.queue) == 0 {
				b.settle(false)
			}
		case <-b.wake:
			if len(b.queue) == 0 { // else after the queue, which carries the numbers too
				b.settle(false)
			}
		case <-t.C:
			b.settle(true)
		case <-b.closing:
			for len(b.queue) > 0 { // this goroutine alone takes from the queue
				b.put(<-b.queue)
			}
			b.settle(true)
			return
		}
	}
}

// put numbers a purge and hands it to the client. A purge the client
// refuses keeps its number: the next message of its stream shows it.
func (b *Bus) put(out outgoing) {
	m := out.m
	m.fold()
	prior := m.seqAt
	m.seq++
	m.seqAt = m.age()
	if err := b.nc.Publish(b.o.Subject, stamp(out.body, m.seqAt, prior, m.seq)); err != nil {
		b.owed.Store(true)
		b.drop(err)
		return
	}
	m.told = m.seq
	b.published.Add(1)
}

// settle sends the tails owed: for the numbers of purges dropped that no
// message handed over carries yet, at once; every Grace (periodic), for
// the streams that moved since their last tail, so that a purge lost on
// the way shows within about Grace even if its sender falls silent; and
// for every stream after a reconnect (force). A tail the client refuses
// is sent again at the next periodic settle.
func (b *Bus) settle(periodic bool) {
	force := b.force.Swap(false)
	owed := b.owed.Swap(false)
	if !periodic && !force && !owed {
		return
	}
	b.mu.Lock()
	streams := make([]*member, 0, len(b.streams))
	for m := range b.streams {
		streams = append(streams, m)
	}
	b.mu.Unlock()
	for _, m := range streams {
		m.fold()
		if m.seq > 0 && (force || m.told < m.seq || periodic && m.tailed < m.seq) {
			b.tail(m)
		}
		if periodic && m.left.Load() && m.skipped.Load() == 0 && m.tailed == m.seq && len(b.queue) == 0 {
			b.mu.Lock()
			delete(b.streams, m) // gone, and owes nothing
			b.mu.Unlock()
		}
	}
}

// tail sends a message without a purge carrying m's last number.
func (b *Bus) tail(m *member) {
	body := make([]byte, 0, len(m.head)+stampRoom)
	body = stamp(append(body, m.head...), m.age(), m.seqAt, m.seq)
	if b.nc.Publish(b.o.Subject, body) != nil {
		return // counted with the purges it should reveal
	}
	m.told, m.tailed = m.seq, m.seq
	b.tails.Add(1)
}

// drop counts a purge that will not reach the other nodes.
func (b *Bus) drop(err error) {
	b.dropped.Add(1)
	b.dropWarn.do(func(n int64) {
		b.o.Logger.Error("natsbus: purge not sent to the other nodes", "err", err, "dropped_since_last_log", n)
	})
}

// watch calls lost every Grace while the connection is down.
func (b *Bus) watch() {
	defer b.workers.Done()
	t := time.NewTicker(b.o.Grace / 4)
	defer t.Stop()
	var lastLost time.Time
	for {
		select {
		case <-b.closing:
			return
		case now := <-t.C:
			since := b.downSince.Load()
			if since != 0 && now.Sub(time.Unix(0, since)) >= b.o.Grace && now.Sub(lastLost) >= b.o.Grace {
				lastLost = now
				b.lostAll("cut off from NATS for longer than the grace")
			}
		}
	}
}

// Stats returns the bus's counts.
func (b *Bus) Stats() BusStats {
	return BusStats{
		Published: b.published.Load(), Received: b.received.Load(), Dropped: b.dropped.Load(),
		Malformed: b.malformed.Load(), Lost: b.lost.Load(), Gaps: b.gaps.Load(), Duplicates: b.duplicates.Load(),
		Senders: b.heard.len(), Connected: b.nc.IsConnected(),
	}
}

// Close publishes what is queued (into the client's buffer) and the tails
// owed, flushes them for a while and closes the connection. Members should
// leave first; their publish drops purges from then on. Close is
// idempotent.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		close(b.closing)
		b.workers.Wait()
		if b.nc.IsConnected() {
			_ = b.nc.FlushTimeout(2 * time.Second)
		}
		b.nc.Close()
	})
}

func randomID() string {
	var id [8]byte
	_, _ = rand.Read(id[:])
	return hex.EncodeToString(id[:])
}

// limiter lets a repeated warning through once every limiterEvery, with
// the count of those held back.
type limiter struct {
	last atomic.Int64 // UnixNano
	held atomic.Int64
}

const limiterEvery = 10 * time.Second

func (l *limiter) do(log func(held int64)) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if last != 0 && now-last < int64(limiterEvery) || !l.last.CompareAndSwap(last, now) {
		l.held.Add(1)
		return
	}
	log(l.held.Swap(0) + 1)
}
