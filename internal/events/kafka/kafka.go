// Package kafka is the events.Source that reads Kafka topics with a
// consumer group (franz-go's kgo client).
//
// # Data flow
//
//	brokers ──fetch──▶ kgo buffer ──PollRecords──▶ Run ──deliver──▶ Runner
//	                                               │ ok: MarkCommitRecords
//	                                               ▼
//	             marked offsets ──commit (every 5s, on revoke, on stop)──▶ group
//
// Run polls at most maxPollRecords records at a time and hands them to
// deliver one by one, in partition order (partitions one after the other,
// in poll order). A record whose deliver returned nil is marked; kgo
// commits the marked offsets every 5 seconds, Run commits them again when
// partitions are revoked and when it stops.
//
// # Delivery guarantee: at-least-once
//
// The committed offset of a partition never passes a record deliver has
// not accepted: a record is marked only after deliver returned nil for it,
// and after a failed record nothing later of its partition is delivered
// until the failed one is (Run rewinds the partition to it with SetOffsets,
// backs off and reads it again). Polls use kgo.BlockRebalanceOnPoll, so no
// rebalance can revoke a partition between the poll and the marks of its
// records: what is committed on revoke is exactly what was delivered.
//
// A record can be delivered twice, and only in these cases:
//   - moat stopped without committing (a crash, a kill, a commit that
//     failed at shutdown): the records delivered since the last commit (at
//     most the 5 seconds of the autocommit interval) are read again;
//   - this node lost its partitions without revoking them (its session
//     expired, or a rebalance waited on a deliver past the rebalance
//     timeout, 60s): the next owner starts from the last commit;
//   - a commit failed (broker or coordinator down) before a rebalance.
//
// A clean stop (ctx done) or a rebalance commits what was delivered, so
// the next reader starts exactly after it. The Runner drops the duplicates
// it saw lately (events.dedupe).
//
// No record is skipped, but these are never read: records that retention
// deleted before the group read them (kgo resumes at the log start), and,
// for a group with no commit and start "latest", those written before Run
// started (see clientOptions).
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

// Errors.
var (
	// ErrConfig is wrapped by New's errors, which name the field.
	ErrConfig = errors.New("kafka: invalid config")
	// ErrRunning is returned by Run when the Source is already running.
	ErrRunning = errors.New("kafka: source already running")
)

// Limits. They bound what a flood of the topics can make a node hold: kgo
// keeps at most one fetch per broker buffered, each of at most
// fetchMaxBytes (and fetchMaxPartitionBytes a partition) as sent, a
// compressed batch at most maxDecompressBytes once decompressed.
const (
	maxPollRecords         = 256
	fetchMaxBytes          = 16 << 20
	fetchMaxPartitionBytes = 1 << 20
	// WARNING: a batch that decompresses past this is not skipped (that
	// would lose events): its partition stops, and Status reports
	// kgo.ErrDecompressTooLarge until an operator moves the group past it.
	maxDecompressBytes = 64 << 20

	defaultClientID = "moat"
	// commitTimeout bounds the commits of a revoke and of a stop, and the
	// leave of a stop.
	commitTimeout = 10 * time.Second
	// lagEvery is how often Status's Lag is refreshed.
	lagEvery = 5 * time.Second
)

// Source reads Kafka topics with a consumer group. Create it with New.
type Source struct {
	name    string
	group   string
	start   string // "latest" or "earliest"
	options []kgo.Opt
	log     *slog.Logger

	st state

	// Set by tests only: the lag refresh period (0: lagEvery) and options
	// appended to the client's (shorter heartbeats).
	lagEvery time.Duration
	testOpts []kgo.Opt
}

var _ events.Source = (*Source)(nil)

// New returns a Source reading cfg's topics. sourceName is the source's
// name (the default group is "moat-" + sourceName), node is events.node
// (PerNode groups append "-" + node). log is never nil. New checks cfg and
// returns an error wrapping ErrConfig that names the field; it does not
// connect.
func New(cfg config.KafkaSource, sourceName, node string, log *slog.Logger) (*Source, error) {
	if err := check(cfg, sourceName, node); err != nil {
		return nil, err
	}
	group := cfg.Group
	if group == "" {
		group = "moat-" + sourceName
	}
	if cfg.PerNode {
		group += "-" + node
	}
	start := cfg.Start
	if start == "" {
		start = "latest"
	}
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = defaultClientID
	}
	log = log.With("source", sourceName, "group", group)
	s := &Source{name: sourceName, group: group, start: start, log: log}
	s.st.lag = -1
	s.options = []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(clientID),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(cfg.Topics...),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.OnPartitionsRevoked(s.onRevoked),
		kgo.OnPartitionsLost(s.onLost),
		kgo.FetchMaxBytes(fetchMaxBytes),
		kgo.FetchMaxPartitionBytes(fetchMaxPartitionBytes),
		kgo.MaxDecompressBatchBytes(maxDecompressBytes),
		kgo.WithHooks(hooks{&s.st}),
		kgo.WithLogger(kgoLogger{log}),
	}
	if cfg.TLS {
		// A nil RootCAs is the system's roots.
		s.options = append(s.options, kgo.DialTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	if cfg.Username != "" {
		switch strings.ToLower(cfg.Mechanism) {
		case "", "plain":
			if !cfg.TLS {
				log.Warn("kafka: SASL/PLAIN without tls sends the password in the clear")
			}
			s.options = append(s.options, kgo.SASL(plain.Auth{User: cfg.Username, Pass: cfg.Password}.AsMechanism()))
		case "scram-sha-256":
			s.options = append(s.options, kgo.SASL(scram.Auth{User: cfg.Username, Pass: cfg.Password}.AsSha256Mechanism()))
		case "scram-sha-512":
			s.options = append(s.options, kgo.SASL(scram.Auth{User: cfg.Username, Pass: cfg.Password}.AsSha512Mechanism()))
		}
	}
	return s, nil
}

// clientOptions are the options of one Run's client, which started at
// runStart.
//
// "latest" starts a partition the group has no commit for at its first
// record stamped at or after runStart rather than at its end: the same for
// the partitions of a new group, but a partition added to a topic later is
// read from the events written since, not from wherever its end is when
// the client notices it (up to the metadata refresh, 5 minutes, later).
// Where a committed offset fell out of the log, kgo's default reset applies:
// the log start, so no record still in the log is skipped.
//
// WARNING: kgo lists a partition's offsets by time and its end at once; if
// no record is stamped after runStart yet, it starts at the end as listed,
// so an event written in that millisecond can be missed by a new group.
// Only "earliest" has no such boundary.
func (s *Source) clientOptions(runStart time.Time) []kgo.Opt {
	start := kgo.NewOffset().AtStart()
	if s.start == "latest" {
		start = kgo.NewOffset().AfterMilli(runStart.UnixMilli())
	}
	opts := append([]kgo.Opt{kgo.ConsumeStartOffset(start)}, s.options...)
	return append(opts, s.testOpts...)
}

// check validates cfg; the config package checks it too, with file:line.
func check(cfg config.KafkaSource, sourceName, node string) error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	switch {
	case len(cfg.Brokers) == 0:
		return bad("brokers", "required: the seed brokers, host:port")
	case len(cfg.Topics) == 0:
		return bad("topics", "required: the topics to read")
	case cfg.Group == "" && sourceName == "":
		return bad("group", "required when the source has no name")
	case cfg.PerNode && node == "":
		return bad("per_node", "needs events.node")
	case cfg.Start != "" && cfg.Start != "latest" && cfg.Start != "earliest":
		return bad("start", "want latest or earliest, got %q", cfg.Start)
	case (cfg.Username == "") != (cfg.Password == ""):
		return bad("username", "username and password go together")
	}
	for i, b := range cfg.Brokers {
		if b == "" {
			return bad(fmt.Sprintf("brokers[%d]", i), "empty")
		}
	}
	for i, t := range cfg.Topics {
		if t == "" {
			return bad(fmt.Sprintf("topics[%d]", i), "empty")
		}
	}
	switch strings.ToLower(cfg.Mechanism) {
	case "", "plain", "scram-sha-256", "scram-sha-512":
	default:
		return bad("mechanism", "want plain, scram-sha-256 or scram-sha-512, got %q", cfg.Mechanism)
	}
	return nil
}

// kgoLogger sends kgo's warnings and errors to log (its info messages,
// about group joins and assignments, only when log is at debug).
type kgoLogger struct{ log *slog.Logger }

func (l kgoLogger) Level() kgo.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug) {
		return kgo.LogLevelInfo
	}
	return kgo.LogLevelWarn
}

func (l kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	msg = "kafka: " + msg
	switch level {
	case kgo.LogLevelError:
		l.log.Error(msg, keyvals...)
	case kgo.LogLevelWarn:
		l.log.Warn(msg, keyvals...)
	default:
		l.log.Debug(msg, keyvals...)
	}
}
