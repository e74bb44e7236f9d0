package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

// JetStream reads a JetStream stream with a durable pull consumer:
// at-least-once (see the package comment).
type JetStream struct {
	cfg     config.JetStreamSource
	name    string
	durable string
	ackWait time.Duration
	h       *health

	// Tuning, fixed by NewJetStream; tests shorten them.
	batch            int            // messages per fetch
	maxAckPending    int            // messages handed out and not yet acknowledged, fleet-wide
	fetchWait        time.Duration  // how long one fetch waits for messages
	lagEvery         time.Duration  // how often Status.Lag is refreshed
	attempts         int            // deliveries in place before a message is handed back
	retry            events.Backoff // between those deliveries
	nakFirst, nakMax time.Duration  // redelivery delay of a handed-back message, doubling per delivery
	failure          events.Backoff // after a fetch or a setup failed
}

var _ events.Source = (*JetStream)(nil)

// NewJetStream returns a source reading cfg.Stream; node names this node
// for a per-node durable. It checks the settings and does not connect: Run
// does.
func NewJetStream(cfg config.JetStreamSource, sourceName, node string, log *slog.Logger) (*JetStream, error) {
	switch {
	case cfg.URL == "":
		return nil, fmt.Errorf("%w: jetstream.url is required", ErrConfig)
	case cfg.Stream == "":
		return nil, fmt.Errorf("%w: jetstream.stream is required", ErrConfig)
	case cfg.Start != "" && cfg.Start != "new" && cfg.Start != "all":
		return nil, fmt.Errorf("%w: jetstream.start: want new or all, got %q", ErrConfig, cfg.Start)
	case cfg.AckWait < 0:
		return nil, fmt.Errorf("%w: jetstream.ack_wait must not be negative", ErrConfig)
	case cfg.PerNode && node == "":
		return nil, fmt.Errorf("%w: jetstream.per_node needs the node's name (events.node)", ErrConfig)
	}
	durable := cfg.Durable
	if durable == "" {
		durable = "moat-" + sourceName
	}
	if cfg.PerNode {
		durable += "-" + node
	}
	ackWait := cfg.AckWait.D()
	if ackWait == 0 {
		ackWait = config.DefaultEventAckWait.D()
	}
	return &JetStream{
		cfg: cfg, name: sourceName, durable: durable, ackWait: ackWait, h: newHealth(sourceName, log),
		batch: 32, maxAckPending: 1000, fetchWait: 5 * time.Second, lagEvery: 5 * time.Second,
		attempts: 4, retry: events.Backoff{First: 100 * time.Millisecond, Max: time.Second},
		nakFirst: time.Second, nakMax: 30 * time.Second,
		failure: events.Backoff{First: 100 * time.Millisecond, Max: 5 * time.Second},
	}, nil
}

// Durable is the name of the consumer the source reads.
func (s *JetStream) Durable() string { return s.durable }

// Status implements events.Source. Lag is the consumer's messages not yet
// acknowledged: waiting to be handed out plus handed out and not
// acknowledged (fleet-wide for a shared durable), refreshed every few
// seconds; -1 until first known.
func (s *JetStream) Status() events.Status { return s.h.status() }

// Run implements events.Source. It returns an error only if it cannot
// start at all: a malformed URL, or a consumer JetStream refuses (a bad
// name or filter, a consumer of another kind under that name). Anything
// else (servers away, the stream not created yet) is retried and shown in
// Status.
func (s *JetStream) Run(ctx context.Context, deliver events.Deliver) error {
	nc, err := connect(s.cfg.URL, "moat events "+s.name, auth{s.cfg.Token, s.cfg.Username, s.cfg.Password}, s.h)
	if err != nil {
		return fmt.Errorf("%w: jetstream.url: %w", ErrConfig, err)
	}
	defer closeConn(nc)
	s.h.conn.Store(nc)
	defer s.h.ready.Store(false)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("%w: jetstream: %w", ErrConfig, err)
	}

	cons, err := s.setup(ctx, js, true)
	if cons == nil {
		return err
	}
	var wg sync.WaitGroup
	watchCtx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { s.watchLag(watchCtx, js) })
	defer wg.Wait()
	defer stopWatch()

	fail := s.failure
	for ctx.Err() == nil {
		if !waitConnected(ctx, nc) {
			break
		}
		if cons == nil {
			// A fetch failed: the consumer may be gone (deleted, a server
			// that lost its state), so put it in place again.
			if cons, _ = s.setup(ctx, js, false); cons == nil {
				break
			}
		}
		if err := s.fetch(ctx, cons, deliver); err != nil {
			s.h.fail("fetch", err)
			s.h.ready.Store(false)
			cons = nil
			fail.Wait(ctx)
			continue
		}
		fail.Reset()
	}
	return nil
}

// fetch reads one batch and delivers it. Once ctx is done, the messages
// not yet delivered are handed back at once, for the next reader.
func (s *JetStream) fetch(ctx context.Context, cons jetstream.Consumer, deliver events.Deliver) error {
	fctx, cancel := context.WithTimeout(ctx, s.fetchWait)
	defer cancel()
	batch, err := cons.Fetch(s.batch, jetstream.FetchContext(fctx))
	if err != nil {
		return err
	}
	fetched := time.Now()
	for m := range batch.Messages() {
		if ctx.Err() != nil {
			_ = m.Nak()
			continue
		}
		s.handle(ctx, m, deliver, fetched)
	}
	if err := batch.Error(); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// handle delivers one message, retrying in place a few times, and
// acknowledges it, or hands it back to JetStream with a delay.
func (s *JetStream) handle(ctx context.Context, m jetstream.Msg, deliver events.Deliver, fetched time.Time) {
	meta, err := m.Metadata()
	if err != nil {
		s.h.fail("message without JetStream metadata", err)
		return
	}
	if time.Since(fetched) > s.ackWait/2 {
		// It waited behind slow deliveries: keep it from being handed out
		// again while this node works on it.
		_ = m.InProgress()
	}
	msg := message(m.Data(), m.Headers(), m.Subject(), strconv.FormatUint(meta.Sequence.Stream, 10))
	wait := s.retry
	for attempt := 1; ; attempt++ {
		err := deliver(ctx, msg)
		switch {
		case err == nil:
			s.ack(m, meta.Sequence.Stream)
			return
		case ctx.Err() != nil:
			_ = m.Nak() // stopping: the next reader takes it at once
			return
		case attempt >= s.attempts:
			delay := min(s.nakFirst<<min(meta.NumDelivered-1, 16), s.nakMax)
			s.h.record("deliver", err)
			s.h.log.Warn("events: message handed back to JetStream for later", "seq", meta.Sequence.Stream,
				"deliveries", meta.NumDelivered, "delay", delay, "err", err)
			_ = m.NakWithDelay(delay)
			return
		}
		_ = m.InProgress()
		if !wait.Wait(ctx) {
			_ = m.Nak()
			return
		}
	}
}

// ackTimeout bounds one acknowledgement's round trip.
const ackTimeout = 2 * time.Second

// ack acknowledges a delivered message and waits for the server to confirm
// it, trying twice. The wait is detached from Run's context: a message
// that was applied is acknowledged even as the source stops. An ack that
// cannot be confirmed means the message may be delivered again (the
// Runner drops the duplicate by ID).
func (s *JetStream) ack(m jetstream.Msg, seq uint64) {
	var err error
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), ackTimeout)
		err = m.DoubleAck(ctx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return
		}
	}
	s.h.fail("ack", fmt.Errorf("message %d may be delivered again: %w", seq, err))
}

// waitConnected waits for the connection to be up, or reports false when
// ctx ends first. Fetching while reconnecting would only leave a stale
// pull request in the reconnect buffer.
func waitConnected(ctx context.Context, nc *natsgo.Conn) bool {
	if nc.IsConnected() {
		return true
	}
	ch := nc.StatusChanged(natsgo.CONNECTED)
	defer nc.RemoveStatusListener(ch)
	if nc.IsConnected() {
		return true
	}
	select {
	case <-ctx.Done():
		return false
	case <-ch:
		return true
	}
}
