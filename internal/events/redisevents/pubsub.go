package redisevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

// Bounds of the queue between the pub/sub connection and Deliver: about
// as many purges as a burst of writes to the application makes, and at
// most 8 MiB of payloads.
const (
	pubSubQueueLen   = 1024
	pubSubQueueBytes = 8 << 20
)

// Deliver retries back off from deliverRetryMin to deliverRetryMax.
const (
	deliverRetryMin = 100 * time.Millisecond
	deliverRetryMax = 5 * time.Second
)

// errSubscriptionEnded reports a subscription that Redis ended without an
// error (the connection closed).
var errSubscriptionEnded = errors.New("redisevents: subscription ended")

// PubSub is a Source of Redis pub/sub channels and patterns (at-most-once;
// see the package comment).
type PubSub struct {
	conn     redisConn
	channels []string
	patterns []string
	log      *slog.Logger
	health

	queue    *queue
	dropped  atomic.Int64
	dropping atomic.Bool // a burst of drops is under way (logged once)
	running  atomic.Bool

	// Backoffs, set by NewPubSub (tests shorten them).
	reconnect, retry events.Backoff
}

var _ events.Source = (*PubSub)(nil)

// NewPubSub returns a source subscribed to cfg's channels and patterns;
// it connects when Run is called. sourceName names it in logs. A nil log
// discards.
func NewPubSub(cfg config.RedisPubSubSource, sourceName string, log *slog.Logger) (*PubSub, error) {
	conn, err := newRedisConn(cfg.Addrs, cfg.Username, cfg.Password, cfg.DB)
	if err != nil {
		return nil, err
	}
	if len(cfg.Channels)+len(cfg.Patterns) == 0 {
		return nil, fmt.Errorf("%w: channels: required (or patterns)", ErrConfig)
	}
	if i := slices.Index(cfg.Channels, ""); i >= 0 {
		return nil, fmt.Errorf("%w: channels[%d]: empty", ErrConfig, i)
	}
	if i := slices.Index(cfg.Patterns, ""); i >= 0 {
		return nil, fmt.Errorf("%w: patterns[%d]: empty", ErrConfig, i)
	}
	p := &PubSub{
		conn:      conn,
		channels:  slices.Clone(cfg.Channels),
		patterns:  slices.Clone(cfg.Patterns),
		log:       orDiscard(log).With("source", sourceName, "transport", "redis_pubsub"),
		queue:     newQueue(pubSubQueueLen, pubSubQueueBytes),
		reconnect: events.Backoff{First: reconnectMin, Max: reconnectMax},
		retry:     events.Backoff{First: deliverRetryMin, Max: deliverRetryMax},
	}
	p.lag.Store(-1) // pub/sub cannot tell
	return p, nil
}

// Status implements events.Source. Lag is always -1.
func (p *PubSub) Status() events.Status { return p.status() }

// Dropped is how many messages were dropped because the queue was full.
func (p *PubSub) Dropped() int64 { return p.dropped.Load() }

// Run implements events.Source: it subscribes (again after each
// connection error) until ctx ends, and delivers each message from the
// queue, retrying a failed one. Messages still queued when ctx ends are
// kept for the next Run. It returns an error wrapping ErrRejected if Redis
// rejects the settings (credentials, ACL, DB) before the first
// subscription, ErrRunning if another Run is under way, and nil otherwise.
func (p *PubSub) Run(ctx context.Context, deliver events.Deliver) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer p.running.Store(false)
	var wg sync.WaitGroup
	defer wg.Wait()
	subCtx, stop := context.WithCancel(ctx)
	defer stop()
	fatal := make(chan error, 1)
	wg.Go(func() { fatal <- p.subscribeLoop(subCtx) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-fatal:
			return err
		case m := <-p.queue.ch:
			p.queue.taken(m)
			deliverRetrying(ctx, deliver, m, p.retry, p.log)
		}
	}
}

// subscribeLoop keeps a subscription up until ctx ends (nil), or returns
// the error of settings that Redis rejected before it ever subscribed.
func (p *PubSub) subscribeLoop(ctx context.Context) error {
	return p.keepUp(ctx, p.reconnect, p.log, "subscription lost", p.subscribe)
}

// subscribe subscribes on one connection and returns when it breaks (up:
// the subscription was confirmed) or ctx ends.
func (p *PubSub) subscribe(ctx context.Context, attempt int) (up bool, err error) {
	rc, err := p.conn.client(attempt)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	dc, _ := rc.Dedicate()
	closed := dc.SetPubSubHooks(rueidis.PubSubHooks{OnMessage: p.receive})
	defer func() {
		dc.Close()
		for range closed { // the hooks are not called any more
		}
	}()
	var subs rueidis.Commands
	if len(p.channels) > 0 {
		subs = append(subs, dc.B().Subscribe().Channel(p.channels...).Build())
	}
	if len(p.patterns) > 0 {
		subs = append(subs, dc.B().Psubscribe().Pattern(p.patterns...).Build())
	}
	// Do returns once Redis confirmed every channel and pattern.
	for _, r := range dc.DoMulti(ctx, subs...) {
		if err := r.Error(); err != nil {
			return false, fmt.Errorf("redisevents: subscribing: %w", err)
		}
	}
	p.connected.Store(true) // subscribeLoop clears it
	p.log.Info("redisevents: subscribed", "channels", p.channels, "patterns", p.patterns)
	select {
	case <-ctx.Done():
		return true, nil
	case err, ok := <-closed:
		if !ok || err == nil {
			err = errSubscriptionEnded
		}
		return true, fmt.Errorf("redisevents: subscription: %w", err)
	}
}

// receive queues one message. It runs on the connection's reader and must
// not wait: a reader that stops reading makes Redis buffer, then
// disconnect.
func (p *PubSub) receive(m rueidis.PubSubMessage) {
	msg := events.Message{Topic: m.Channel, Data: []byte(m.Message)}
	if p.queue.push(msg) {
		p.dropping.Store(false)
		return
	}
	n := p.dropped.Add(1)
	p.fail(fmt.Errorf("redisevents: queue full (%d messages or %d bytes): %d messages dropped", cap(p.queue.ch), p.queue.maxBytes, n))
	if !p.dropping.Swap(true) {
		p.log.Warn("redisevents: deliver is slower than the publishers: dropping messages until the queue has room", "dropped", n)
	}
}
