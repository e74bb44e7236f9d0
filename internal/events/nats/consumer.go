package nats

import (
	"context"
	"errors"
	"fmt"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// apiTimeout bounds one JetStream API call.
const apiTimeout = 10 * time.Second

// setup puts the durable consumer in place, retrying until it is or ctx
// ends (then it returns nil, nil). On the first setup, a consumer
// JetStream refuses is an error; later (after a failure mid-run) it is
// retried like any other, since the source ran with these settings.
func (s *JetStream) setup(ctx context.Context, js jetstream.JetStream, first bool) (jetstream.Consumer, error) {
	wait := s.failure
	for {
		cons, err := s.upsert(ctx, js)
		if err == nil {
			s.h.ready.Store(true)
			return cons, nil
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if first && rejected(err) {
			return nil, fmt.Errorf("%w: jetstream consumer %q on stream %q: %w", ErrConfig, s.durable, s.cfg.Stream, err)
		}
		s.h.fail("consumer not in place", err)
		if !wait.Wait(ctx) {
			return nil, nil
		}
	}
}

// upsert creates the consumer or updates it to these settings.
//
// Start is where a new consumer starts: an existing one keeps its deliver
// policy (JetStream refuses to change it, and its position is what a
// restart resumes from anyway).
func (s *JetStream) upsert(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	ctx, cancel := untilDisconnect(ctx, js.Conn(), apiTimeout)
	defer cancel()
	cfg := jetstream.ConsumerConfig{
		Durable:       s.durable,
		Description:   "moat events source " + s.name,
		FilterSubject: s.cfg.Subject,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.ackWait,
		MaxAckPending: s.maxAckPending,
	}
	if s.cfg.Start == "all" {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	existing, err := js.Consumer(ctx, s.cfg.Stream, s.durable)
	switch {
	case err == nil:
		old := existing.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
	case errors.Is(context.Cause(ctx), errConnectionLost):
		return nil, errConnectionLost
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, err
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, s.cfg.Stream, cfg)
	if err != nil && errors.Is(context.Cause(ctx), errConnectionLost) {
		err = errConnectionLost
	}
	return cons, err
}

// errConnectionLost ends a request whose connection went down.
var errConnectionLost = errors.New("connection lost during the request")

// untilDisconnect returns a context that ends after timeout, or when nc
// loses its connection (its cause is then errConnectionLost): a request
// sent to a server that is going away is never answered, and waiting out
// the timeout would only delay the retry.
func untilDisconnect(ctx context.Context, nc *natsgo.Conn, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	ctx, cancel := context.WithCancelCause(ctx)
	ch := nc.StatusChanged(natsgo.DISCONNECTED, natsgo.RECONNECTING, natsgo.CLOSED)
	go func() {
		defer nc.RemoveStatusListener(ch)
		select {
		case <-ch:
			cancel(errConnectionLost)
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil); cancelTimeout() }
}

// rejected tells a consumer JetStream will never take (a bad request, a
// malformed name or subject) from a failure worth retrying.
func rejected(err error) bool {
	for _, bad := range []error{jetstream.ErrInvalidConsumerName, jetstream.ErrInvalidSubject,
		jetstream.ErrInvalidStreamName, jetstream.ErrStreamNameRequired} {
		if errors.Is(err, bad) {
			return true
		}
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code == 400
}

// watchLag refreshes Status.Lag every lagEvery until ctx ends. A failed
// look-up keeps the last value (LastError says why).
func (s *JetStream) watchLag(ctx context.Context, js jetstream.JetStream) {
	t := time.NewTicker(s.lagEvery)
	defer t.Stop()
	for {
		ictx, cancel := context.WithTimeout(ctx, apiTimeout)
		cons, err := js.Consumer(ictx, s.cfg.Stream, s.durable)
		cancel()
		if err == nil {
			info := cons.CachedInfo()
			s.h.lag.Store(int64(info.NumPending) + int64(info.NumAckPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
