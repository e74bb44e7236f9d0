package redisevents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/internal/events"
)

// errUnanswered reports a blocking read that outlasted its block time by
// the connection's timeout.
var errUnanswered = errors.New("no answer from Redis")

// reader is one session's reading of a Stream: each method delivers and
// acknowledges the entries it reads, one at a time, and returns the first
// transport error, or ctx's error when ctx ended.
type reader struct {
	s       *Stream
	rc      rueidis.Client
	deliver events.Deliver
}

// pending delivers the entries this consumer read earlier and did not
// acknowledge, oldest first.
func (r *reader) pending(ctx context.Context) error {
	after := "0"
	for {
		entries, err := r.read(ctx, after, 0)
		if err != nil || len(entries) == 0 {
			return err
		}
		if err := r.handleAll(ctx, entries); err != nil {
			return err
		}
		after = entries[len(entries)-1].ID
	}
}

// fresh waits up to the block time for entries no consumer of the group
// has read, and delivers them.
func (r *reader) fresh(ctx context.Context) error {
	entries, err := r.read(ctx, ">", r.s.block)
	if err != nil {
		return err
	}
	return r.handleAll(ctx, entries)
}

// read runs XREADGROUP from id, blocking up to block if it is not 0.
func (r *reader) read(ctx context.Context, id string, block time.Duration) ([]rueidis.XRangeEntry, error) {
	s := r.s
	g := r.rc.B().Xreadgroup().Group(s.group, s.consumer).Count(streamCount)
	var cmd rueidis.Completed
	if block > 0 {
		cmd = g.Block(block.Milliseconds()).Streams().Key(s.key).Id(id).Build()
		// rueidis neither PINGs nor times out a connection waiting in a
		// blocking call: a server that froze (or a half-open connection)
		// would hold this read for ever. Not context.WithTimeout: rueidis
		// runs a call whose context has a deadline synchronously, deaf to
		// its cancellation, so that Run would stop only when BLOCK ends.
		rctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		timer := time.AfterFunc(block+s.conn.timeout, func() { cancel(errUnanswered) })
		defer timer.Stop()
		ctx = rctx
	} else {
		cmd = g.Streams().Key(s.key).Id(id).Build()
	}
	streams, err := r.rc.Do(ctx, cmd).AsXRead()
	if rueidis.IsRedisNil(err) { // BLOCK timed out
		return nil, nil
	}
	if err != nil {
		if cause := context.Cause(ctx); cause == errUnanswered {
			err = cause
		}
		return nil, fmt.Errorf("redisevents: XREADGROUP %s %s: %w", s.key, id, err)
	}
	return streams[s.key], nil
}

// claim takes over and delivers the entries that consumers of the group
// have left unacknowledged for longer than ClaimAfter, in one sweep of the
// group's pending entries.
func (r *reader) claim(ctx context.Context) error {
	s := r.s
	idle := strconv.FormatInt(s.claimAfter.Milliseconds(), 10)
	for start := "0-0"; ; {
		cmd := r.rc.B().Xautoclaim().Key(s.key).Group(s.group).Consumer(s.consumer).MinIdleTime(idle).Start(start).Count(streamCount).Build()
		reply, err := r.rc.Do(ctx, cmd).ToArray()
		if err == nil && len(reply) < 2 {
			err = fmt.Errorf("got %d elements, want 2 or 3", len(reply))
		}
		if err != nil {
			return fmt.Errorf("redisevents: XAUTOCLAIM %s: %w", s.key, err)
		}
		next, err := reply[0].ToString()
		if err != nil {
			return fmt.Errorf("redisevents: XAUTOCLAIM %s: cursor: %w", s.key, err)
		}
		entries, err := reply[1].AsXRange()
		if err != nil {
			return fmt.Errorf("redisevents: XAUTOCLAIM %s: entries: %w", s.key, err)
		}
		if len(entries) > 0 {
			s.log.Info("redisevents: claimed entries another consumer left pending", "count", len(entries), "claim_after", s.claimAfter)
		}
		if err := r.handleAll(ctx, entries); err != nil {
			return err
		}
		if next == "0-0" {
			return nil
		}
		start = next
	}
}

func (r *reader) handleAll(ctx context.Context, entries []rueidis.XRangeEntry) error {
	for _, e := range entries {
		if err := r.handle(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// handle delivers e until Deliver accepts it, then acknowledges it.
func (r *reader) handle(ctx context.Context, e rueidis.XRangeEntry) error {
	if err := ctx.Err(); err != nil {
		return err // e stays pending: the next session delivers it
	}
	// An entry deleted from the stream while pending is read back with no
	// fields: there is nothing to deliver, only to acknowledge.
	if e.FieldValues != nil && !deliverRetrying(ctx, r.deliver, r.s.message(e), r.s.retry, r.s.log) {
		return ctx.Err()
	}
	// Detached: an entry applied as Run stops is still acknowledged, so
	// that a clean stop delivers nothing twice.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
	defer cancel()
	if err := r.rc.Do(actx, r.rc.B().Xack().Key(r.s.key).Group(r.s.group).Id(e.ID).Build()).Error(); err != nil {
		return fmt.Errorf("redisevents: XACK %s %s: %w", r.s.key, e.ID, err)
	}
	return nil
}

// message is the Message of entry e: Data is its Field's value and Headers
// its other fields; without that field, Data is a JSON object of all its
// fields (string values) and Headers is nil.
func (s *Stream) message(e rueidis.XRangeEntry) events.Message {
	m := events.Message{Topic: s.key, TransportID: e.ID}
	data, ok := e.FieldValues[s.field]
	if !ok {
		m.Data, _ = json.Marshal(e.FieldValues) // a map of strings always marshals
		return m
	}
	m.Data = []byte(data)
	for k, v := range e.FieldValues {
		if k == s.field {
			continue
		}
		if m.Headers == nil {
			m.Headers = make(map[string]string, len(e.FieldValues)-1)
		}
		m.Headers[k] = v
	}
	return m
}

// watchLag refreshes the group's lag every lagEvery until ctx ends.
func (s *Stream) watchLag(ctx context.Context, rc rueidis.Client) {
	t := time.NewTicker(s.lagEvery)
	defer t.Stop()
	for {
		lag, err := s.readLag(ctx, rc)
		if err != nil && ctx.Err() == nil {
			s.log.Debug("redisevents: reading the group's lag", "err", err)
		}
		s.lag.Store(lag)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readLag returns the group's lag from XINFO GROUPS, or -1 when Redis
// does not tell it (before 7.0, or after deletions it cannot count past).
func (s *Stream) readLag(ctx context.Context, rc rueidis.Client) (int64, error) {
	groups, err := rc.Do(ctx, rc.B().XinfoGroups().Key(s.key).Build()).ToArray()
	if err != nil {
		return -1, err
	}
	for _, g := range groups {
		info, err := g.AsMap()
		if err != nil {
			return -1, err
		}
		name := info["name"]
		if n, _ := name.ToString(); n != s.group {
			continue
		}
		lag, ok := info["lag"]
		if !ok || lag.IsNil() {
			return -1, nil
		}
		n, err := lag.AsInt64()
		if err != nil {
			return -1, err
		}
		return n, nil
	}
	return -1, fmt.Errorf("redisevents: group %s not in XINFO GROUPS %s", s.group, s.key)
}
