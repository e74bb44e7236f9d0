package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/moatproxy/moat/internal/events"
)

// The wait before a failed record is read again: minBackoff, doubling up
// to maxBackoff, back to minBackoff once a poll is delivered in full.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Run reads until ctx is done, calling deliver for each record in
// partition order, and returns nil then, after committing what deliver
// accepted and leaving the group. deliver gets ctx, and must not be nil.
//
// Run returns an error only when it cannot run: the client rejects its
// options, or the Source is already running (ErrRunning). Transport
// errors are retried by the client and recorded in Status. A record
// deliver fails is read again after a backoff (50ms doubling to 5s),
// never skipped; nothing after it in its partition is delivered before it.
func (s *Source) Run(ctx context.Context, deliver events.Deliver) error {
	if !s.st.begin() {
		return ErrRunning
	}
	cl, err := kgo.NewClient(s.clientOptions(time.Now())...)
	if err != nil {
		s.st.end()
		return fmt.Errorf("kafka: source %s: %w", s.name, err)
	}
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		s.refreshLag(lagCtx, cl)
	}()
	s.consume(ctx, cl, deliver)
	stopLag()
	<-lagDone
	s.stop(ctx, cl)
	return nil
}

// consume is Run's loop: poll, deliver, rewind what failed, allow the
// rebalances the poll blocked, back off after a failure.
func (s *Source) consume(ctx context.Context, cl *kgo.Client, deliver events.Deliver) {
	retry := events.Backoff{First: minBackoff, Max: maxBackoff}
	for ctx.Err() == nil {
		fetches := cl.PollRecords(ctx, maxPollRecords)
		fetchFailed := s.fetchErrors(ctx, fetches)
		rewind := s.deliverAll(ctx, cl, fetches, deliver)
		// Between the poll and AllowRebalance the polled partitions are
		// still ours: no revoke can commit while we rewind them.
		if len(rewind) > 0 {
			cl.SetOffsets(rewind)
		}
		cl.AllowRebalance()
		switch {
		case len(rewind) > 0, fetchFailed && fetches.NumRecords() == 0:
			if !retry.Wait(ctx) {
				return
			}
		case fetches.NumRecords() > 0:
			retry.Reset()
		}
	}
}

// deliverAll delivers the polled records and marks those deliver accepted
// for commit. After a failed record, it skips the rest of its partition
// and returns the record's offset (by topic and partition) to rewind to.
func (s *Source) deliverAll(ctx context.Context, cl *kgo.Client, fetches kgo.Fetches, deliver events.Deliver) map[string]map[int32]kgo.EpochOffset {
	s.st.polled(fetches)
	var rewind map[string]map[int32]kgo.EpochOffset
	for r := range fetches.RecordsAll() {
		if _, failed := rewind[r.Topic][r.Partition]; failed {
			continue
		}
		if ctx.Err() != nil {
			break // stopping: the next reader starts at the first unmarked record
		}
		m := message(r)
		if err := deliver(ctx, m); err != nil {
			if ctx.Err() != nil {
				break // stopping: the record is not marked, its next reader starts at it
			}
			s.log.Warn("kafka: event not applied; reading it again after a backoff", "id", m.TransportID, "error", err)
			if rewind == nil {
				rewind = make(map[string]map[int32]kgo.EpochOffset)
			}
			if rewind[r.Topic] == nil {
				rewind[r.Topic] = make(map[int32]kgo.EpochOffset)
			}
			rewind[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset}
			continue
		}
		cl.MarkCommitRecords(r)
		s.st.delivered(r)
	}
	return rewind
}

// fetchErrors records the errors of a poll, but those of stopping, and
// reports whether there were any.
func (s *Source) fetchErrors(ctx context.Context, fetches kgo.Fetches) (failed bool) {
	fetches.EachError(func(topic string, partition int32, err error) {
		if ctx.Err() != nil || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		failed = true
		s.st.fail(err)
		s.log.Warn("kafka: fetch failed", "topic", topic, "partition", partition, "error", err)
	})
	return failed
}

// stop commits what was delivered and leaves the group, within
// commitTimeout; ctx is done already.
func (s *Source) stop(ctx context.Context, cl *kgo.Client) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	s.commit(ctx, cl, "stop")
	s.st.stopping()
	// Leaving revokes every partition, so onRevoked commits once more
	// (nothing new by now).
	if err := cl.LeaveGroupContext(ctx); err != nil {
		s.log.Warn("kafka: leaving the group", "error", err)
	}
	cl.Close()
	s.st.end()
}

// commit commits the marked offsets; a failure means the records delivered
// since the last commit are read again by the partition's next reader.
func (s *Source) commit(ctx context.Context, cl *kgo.Client, when string) {
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		s.st.fail(err)
		s.log.Warn("kafka: commit failed; the events delivered since the last commit will be read again", "on", when, "error", err)
	}
}

// message is r as a Message. Headers are nil when r has none; of two
// headers with one name, the last wins.
func message(r *kgo.Record) events.Message {
	var headers map[string]string
	if len(r.Headers) > 0 {
		headers = make(map[string]string, len(r.Headers))
		for _, h := range r.Headers {
			headers[h.Key] = string(h.Value)
		}
	}
	return events.Message{
		Data:        r.Value,
		Headers:     headers,
		Topic:       r.Topic,
		Key:         r.Key,
		TransportID: fmt.Sprintf("%s/%d/%d", r.Topic, r.Partition, r.Offset),
	}
}
