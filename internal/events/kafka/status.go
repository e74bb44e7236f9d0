package kafka

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/moatproxy/moat/internal/events"
)

// state is what Status reports. Run, the group callbacks and the client's
// hooks (on kgo's goroutines) and Status write and read it concurrently,
// under mu.
type state struct {
	mu       sync.Mutex
	running  bool
	closing  bool // Run is stopping: connection errors are its own
	member   bool // assigned by the group, not lost since
	linkOK   bool // the last exchange with a broker succeeded
	lag      int64
	lastErr  string
	lastErrT time.Time
	// parts holds this node's partitions and the offset of the next record
	// to deliver in each: the first polled one, then one past the last
	// delivered; -1 until a record of the partition was polled.
	parts map[topicPartition]int64
}

type topicPartition struct {
	topic     string
	partition int32
}

// Status implements events.Source. Connected is true while Run runs, the
// group has assigned this node (no partition is an assignment too) and
// the last exchange with a broker succeeded. Lag is refreshed every 5
// seconds while Run runs, -1 otherwise.
func (s *Source) Status() events.Status {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	lag := st.lag
	if !st.running {
		lag = -1
	}
	return events.Status{
		Connected:   st.running && st.member && st.linkOK,
		Lag:         lag,
		LastError:   st.lastErr,
		LastErrorAt: st.lastErrT,
	}
}

// begin starts a Run, unless one runs (then false).
func (st *state) begin() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.running {
		return false
	}
	st.running, st.closing, st.member, st.linkOK, st.lag = true, false, false, false, -1
	st.parts = make(map[topicPartition]int64)
	return true
}

func (st *state) stopping() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.closing = true
}

func (st *state) end() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.running, st.member, st.linkOK, st.lag = false, false, false, -1
	clear(st.parts)
}

// fail records a transport error; the cancellations of a stopping client
// and of a fetch kgo abandons (after SetOffsets) are not.
func (st *state) fail(err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closing && errors.Is(err, net.ErrClosed) {
		return
	}
	st.linkOK = false
	st.lastErr, st.lastErrT = err.Error(), time.Now()
}

func (st *state) ok() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.linkOK = true
}

func (st *state) setLag(lag int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.lag = lag
}

// polled notes where this node starts in each partition it had not read
// yet: the first record polled.
func (st *state) polled(fetches kgo.Fetches) {
	st.mu.Lock()
	defer st.mu.Unlock()
	fetches.EachPartition(func(p kgo.FetchTopicPartition) {
		if len(p.Records) == 0 {
			return
		}
		tp := topicPartition{p.Topic, p.Partition}
		if next, ok := st.parts[tp]; !ok || next < 0 {
			st.parts[tp] = p.Records[0].Offset
		}
	})
}

func (st *state) delivered(r *kgo.Record) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.parts[topicPartition{r.Topic, r.Partition}] = r.Offset + 1
}

// positions copies parts, if this node is a member.
func (st *state) positions() (parts map[topicPartition]int64, member bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.member {
		return nil, false
	}
	parts = make(map[topicPartition]int64, len(st.parts))
	for tp, next := range st.parts {
		parts[tp] = next
	}
	return parts, true
}

// The group callbacks. With BlockRebalanceOnPoll, kgo calls them only
// between AllowRebalance and the next poll's return, never while Run
// delivers a poll.

func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.member = true
	for topic, partitions := range assigned {
		for _, p := range partitions {
			if _, ok := st.parts[topicPartition{topic, p}]; !ok {
				st.parts[topicPartition{topic, p}] = -1
			}
		}
	}
}

// onRevoked commits what was delivered of the partitions leaving this
// node (and of the others), so that their next reader starts right after.
func (s *Source) onRevoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	s.commit(ctx, cl, "revoke")
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	for topic, partitions := range revoked {
		for _, p := range partitions {
			delete(st.parts, topicPartition{topic, p})
		}
	}
}

// onLost forgets the partitions: another member may hold them already, so
// committing would be refused (and could move its offsets back).
func (s *Source) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	st := &s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	st.member = false
	clear(st.parts)
	if len(lost) > 0 {
		s.log.Warn("kafka: partitions lost; their events since the last commit will be read again", "partitions", lost)
	}
}

// hooks reports the client's connections and reads to state.
type hooks struct{ st *state }

var (
	_ kgo.HookBrokerConnect    = hooks{}
	_ kgo.HookBrokerRead       = hooks{}
	_ kgo.HookGroupManageError = hooks{}
)

func (h hooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.st.fail(err)
	}
}

func (h hooks) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		h.st.fail(err)
		return
	}
	h.st.ok()
}

// OnGroupManageError: the group session ended on err (kgo calls onLost
// first, and joins again after a backoff).
func (h hooks) OnGroupManageError(err error) {
	h.st.fail(err)
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	h.st.member = false
}
