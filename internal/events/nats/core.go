package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

// Core reads a NATS core subject, optionally in a queue group: at-most-once
// (see the package comment).
type Core struct {
	cfg  config.NATSSource
	name string
	h    *health

	// Tuning, fixed by NewCore; tests shorten them.
	pendingMsgs, pendingBytes int            // the subscription's buffer; beyond it messages are dropped
	attempts                  int            // deliveries of one message before it is dropped
	retry                     events.Backoff // between those deliveries
	resubscribe               time.Duration  // wait before subscribing again after a failure
}

var _ events.Source = (*Core)(nil)

// NewCore returns a source reading cfg.Subject. It checks the settings and
// does not connect: Run does.
func NewCore(cfg config.NATSSource, sourceName string, log *slog.Logger) (*Core, error) {
	switch {
	case cfg.URL == "":
		return nil, fmt.Errorf("%w: nats.url is required", ErrConfig)
	case cfg.Subject == "":
		return nil, fmt.Errorf("%w: nats.subject is required", ErrConfig)
	}
	return &Core{
		cfg: cfg, name: sourceName, h: newHealth(sourceName, log),
		pendingMsgs: 65_536, pendingBytes: 64 << 20,
		attempts: 4, retry: events.Backoff{First: 100 * time.Millisecond, Max: time.Second},
		resubscribe: time.Second,
	}, nil
}

// Status implements events.Source. Lag is always -1: NATS core cannot tell.
func (c *Core) Status() events.Status { return c.h.status() }

// Run implements events.Source. It returns an error only if it cannot
// connect or subscribe at all (a malformed URL or subject).
func (c *Core) Run(ctx context.Context, deliver events.Deliver) error {
	nc, err := connect(c.cfg.URL, "moat events "+c.name, auth{c.cfg.Token, c.cfg.Username, c.cfg.Password}, c.h)
	if err != nil {
		return fmt.Errorf("%w: nats.url: %w", ErrConfig, err)
	}
	defer closeConn(nc)
	c.h.conn.Store(nc)
	defer c.h.ready.Store(false)

	sub, err := c.subscribe(nc)
	if err != nil {
		return fmt.Errorf("%w: nats.subject %q: %w", ErrConfig, c.cfg.Subject, err)
	}
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, natsgo.ErrSlowConsumer) {
			// The client dropped messages past the pending limits (once
			// per episode of drops).
			n, _ := sub.Dropped()
			c.h.fail("slow consumer", fmt.Errorf("%d messages dropped so far: deliver is behind", n))
			continue
		}
		if err != nil {
			// The subscription broke (closed by the server, a permissions
			// error): subscribe again after a pause.
			c.h.fail("subscription", err)
			if !events.Sleep(ctx, c.resubscribe) {
				return nil
			}
			if !sub.IsValid() {
				if s, err := c.subscribe(nc); err == nil {
					sub = s
				}
			}
			continue
		}
		c.deliver(ctx, deliver, message(msg.Data, msg.Header, msg.Subject, ""))
	}
}

// subscribe subscribes and waits for the server to have the subscription,
// so that Status.Connected means messages published from now on arrive.
func (c *Core) subscribe(nc *natsgo.Conn) (*natsgo.Subscription, error) {
	var sub *natsgo.Subscription
	var err error
	if c.cfg.Queue != "" {
		sub, err = nc.QueueSubscribeSync(c.cfg.Subject, c.cfg.Queue)
	} else {
		sub, err = nc.SubscribeSync(c.cfg.Subject)
	}
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(c.pendingMsgs, c.pendingBytes); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	if nc.IsConnected() {
		_ = nc.FlushTimeout(5 * time.Second) // a failure is only a later Connected
	}
	c.h.ready.Store(true)
	return sub, nil
}

// deliver hands m over, retrying a few times: NATS core has no
// redelivery, so after the last attempt the message is dropped.
func (c *Core) deliver(ctx context.Context, deliver events.Deliver, m events.Message) {
	wait := c.retry
	for attempt := 1; ; attempt++ {
		err := deliver(ctx, m)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt >= c.attempts {
			err = fmt.Errorf("deliver failed %d times, message on %s dropped: %w", attempt, m.Topic, err)
			c.h.record("message dropped", err)
			c.h.log.Error("events: message dropped: NATS core cannot redeliver it", "err", err)
			return
		}
		if !wait.Wait(ctx) {
			return
		}
	}
}
