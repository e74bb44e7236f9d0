package redisevents

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

// Stream reading settings.
const (
	streamCount     = 100             // entries per XREADGROUP and XAUTOCLAIM
	streamBlockMax  = 2 * time.Second // XREADGROUP BLOCK, at most
	streamLagEvery  = 3 * time.Second // XINFO GROUPS
	defaultField    = "data"
	ackTimeout      = 5 * time.Second
	claimEveryFloor = 10 * time.Millisecond
)

// Stream is a Source of a Redis Stream read with a consumer group
// (at-least-once; see the package comment).
type Stream struct {
	conn       redisConn
	key        string
	group      string
	consumer   string
	startID    string // of a new group: "$" or "0"
	field      string
	claimAfter time.Duration
	log        *slog.Logger
	health
	running atomic.Bool

	// Timings, set by NewStream (tests shorten them).
	block      time.Duration // of XREADGROUP: how late a claim sweep may start
	claimEvery time.Duration
	lagEvery   time.Duration
	reconnect  events.Backoff
	retry      events.Backoff
}

var _ events.Source = (*Stream)(nil)

// NewStream returns a source of cfg's stream, read as consumer node (which
// must stay the same across restarts, so that a restarted node takes
// back its pending entries) of cfg.Group, by default "moat-"+sourceName;
// with PerNode, "-"+node is appended to the group. It connects when Run is
// called. A nil log discards.
func NewStream(cfg config.RedisStreamSource, sourceName, node string, log *slog.Logger) (*Stream, error) {
	conn, err := newRedisConn(cfg.Addrs, cfg.Username, cfg.Password, cfg.DB)
	if err != nil {
		return nil, err
	}
	if cfg.Stream == "" {
		return nil, fmt.Errorf("%w: stream: required", ErrConfig)
	}
	if node == "" {
		return nil, fmt.Errorf("%w: node: required (the consumer's name)", ErrConfig)
	}
	group := cfg.Group
	if group == "" {
		if sourceName == "" {
			return nil, fmt.Errorf("%w: group: required when the source has no name", ErrConfig)
		}
		group = "moat-" + sourceName
	}
	if cfg.PerNode {
		group += "-" + node
	}
	var start string
	switch cfg.Start {
	case "", "new":
		start = "$"
	case "all":
		start = "0"
	default:
		return nil, fmt.Errorf("%w: start: want new or all, got %q", ErrConfig, cfg.Start)
	}
	claimAfter := cfg.ClaimAfter.D()
	if claimAfter < 0 {
		return nil, fmt.Errorf("%w: claim_after: must not be negative, got %s", ErrConfig, claimAfter)
	}
	if claimAfter == 0 {
		claimAfter = config.DefaultEventClaimAfter.D()
	}
	field := cfg.Field
	if field == "" {
		field = defaultField
	}
	s := &Stream{
		conn: conn, key: cfg.Stream, group: group, consumer: node, startID: start, field: field, claimAfter: claimAfter,
		log:        orDiscard(log).With("source", sourceName, "transport", "redis_stream", "stream", cfg.Stream, "group", group),
		claimEvery: max(claimAfter/2, claimEveryFloor),
		block:      min(max(claimAfter/2, claimEveryFloor), streamBlockMax),
		lagEvery:   streamLagEvery,
		reconnect:  events.Backoff{First: reconnectMin, Max: reconnectMax},
		retry:      events.Backoff{First: deliverRetryMin, Max: deliverRetryMax},
	}
	s.lag.Store(-1)
	return s, nil
}

// Group is the consumer group the stream is read with.
func (s *Stream) Group() string { return s.group }

// Status implements events.Source. Lag is the group's lag (XINFO GROUPS,
// Redis 7 and later: the entries no consumer of the group has read yet),
// refreshed every few seconds; -1 when not connected or when Redis cannot
// tell.
func (s *Stream) Status() events.Status { return s.status() }

// Run implements events.Source: it reads, delivers and acknowledges
// entries until ctx ends, reconnecting (and re-reading its pending
// entries) after each transport error. It returns an error wrapping
// ErrRejected if Redis rejects the settings (credentials, ACL, DB, a key
// that is not a stream) before the group could be created or found,
// ErrRunning if another Run is under way, and nil otherwise.
func (s *Stream) Run(ctx context.Context, deliver events.Deliver) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer s.running.Store(false)
	return s.keepUp(ctx, s.reconnect, s.log, "stream read failed", func(ctx context.Context, attempt int) (bool, error) {
		return s.session(ctx, attempt, deliver)
	})
}

// session reads on one connection until it breaks (up: the group was
// there) or ctx ends.
func (s *Stream) session(ctx context.Context, attempt int, deliver events.Deliver) (up bool, err error) {
	rc, err := s.conn.client(attempt)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	err = rc.Do(ctx, rc.B().XgroupCreate().Key(s.key).Group(s.group).Id(s.startID).Mkstream().Build()).Error()
	if err != nil && !isBusyGroup(err) {
		return false, fmt.Errorf("redisevents: creating group %s of %s: %w", s.group, s.key, err)
	}
	s.connected.Store(true) // Run clears it

	lagCtx, stopLag := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { s.watchLag(lagCtx, rc) })
	defer func() {
		stopLag()
		wg.Wait()
		s.lag.Store(-1)
	}()

	r := &reader{s: s, rc: rc, deliver: deliver}
	if err := r.pending(ctx); err != nil {
		return true, err
	}
	nextClaim := time.Now()
	for ctx.Err() == nil {
		if !time.Now().Before(nextClaim) {
			if err := r.claim(ctx); err != nil {
				return true, err
			}
			nextClaim = time.Now().Add(s.claimEvery)
		}
		if err := r.fresh(ctx); err != nil {
			return true, err
		}
	}
	return true, nil
}

// isBusyGroup reports the error of XGROUP CREATE for a group that exists.
func isBusyGroup(err error) bool {
	re, ok := rueidis.IsRedisErr(err)
	return ok && re.IsBusyGroup()
}
