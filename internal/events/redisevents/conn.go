package redisevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/internal/events"
)

var (
	// ErrConfig is wrapped by the errors of NewPubSub and NewStream, which
	// name the field at fault.
	ErrConfig = errors.New("redisevents: invalid config")
	// ErrRunning is returned by Run while another Run of the same source
	// has not returned.
	ErrRunning = errors.New("redisevents: source already running")
	// ErrRejected is wrapped by the error Run returns when Redis rejects
	// the source's settings before it ever ran (see rejected).
	ErrRejected = errors.New("redisevents: Redis rejects the settings")
)

// rejected reports an error that retrying will not cure, because it comes
// from a setting: wrong credentials, an ACL that forbids the key or the
// channels, a key that is not a stream, a DB the server does not have.
// Run gives up on it only before its first session was up: afterwards it
// may be a passing state of the server (an ACL or a key being replaced),
// and is retried like any error.
func rejected(err error) bool {
	var re *rueidis.RedisError
	if !errors.As(err, &re) {
		return false
	}
	msg := re.Error()
	for _, prefix := range []string{"WRONGPASS", "NOAUTH", "NOPERM", "WRONGTYPE"} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return strings.Contains(msg, "DB index is out of range")
}

// Connection settings. A connection that leaves a PING or a write
// unanswered for writeTimeout is closed; a blocking read (XREADGROUP
// BLOCK) is given up writeTimeout after its block time.
const (
	dialTimeout  = 2 * time.Second
	keepAlive    = time.Second     // and the idle time before rueidis PINGs the server
	writeTimeout = 5 * time.Second // an unanswered PING or write closes the connection
	connBuffer   = 64 << 10        // read and write buffer of each connection
	reconnectMin = 100 * time.Millisecond
	reconnectMax = 5 * time.Second
	clientName   = "moat-events" // CLIENT LIST shows who reads
)

// redisConn is where and how a source connects.
type redisConn struct {
	addrs              []string
	username, password string
	db                 int
	timeout            time.Duration // writeTimeout (tests shorten it)
}

func newRedisConn(addrs []string, username, password string, db int) (redisConn, error) {
	if len(addrs) == 0 {
		return redisConn{}, fmt.Errorf("%w: addrs: required", ErrConfig)
	}
	for i, a := range addrs {
		if host, port, err := net.SplitHostPort(a); err != nil || host == "" || port == "" {
			return redisConn{}, fmt.Errorf("%w: addrs[%d]: want host:port, got %q", ErrConfig, i, a)
		}
	}
	if db < 0 {
		return redisConn{}, fmt.Errorf("%w: db: must not be negative, got %d", ErrConfig, db)
	}
	return redisConn{addrs: addrs, username: username, password: password, db: db, timeout: writeTimeout}, nil
}

// client connects to the attempt-th address (in turn), as a standalone
// client: the Addrs are alternatives, not the seeds of a cluster.
func (c redisConn) client(attempt int) (rueidis.Client, error) {
	addr := c.addrs[attempt%len(c.addrs)]
	rc, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:         []string{addr},
		ForceSingleClient:   true,
		Username:            c.username,
		Password:            c.password,
		SelectDB:            c.db,
		ClientName:          clientName,
		Dialer:              net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive},
		ConnWriteTimeout:    c.timeout,
		DisableCache:        true,
		DisableRetry:        true, // Run reconnects and re-reads by itself
		PipelineMultiplex:   -1,   // one pipelined connection is plenty
		ReadBufferEachConn:  connBuffer,
		WriteBufferEachConn: connBuffer,
		RingScaleEachConn:   8,
	})
	if err != nil {
		if rc != nil { // ForceSingleClient returns the client with a failed dial
			rc.Close()
		}
		return nil, fmt.Errorf("redisevents: connecting to %s: %w", addr, err)
	}
	return rc, nil
}

// health is what Status reports. Its methods are safe for concurrent use.
type health struct {
	connected atomic.Bool
	lag       atomic.Int64
	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
}

func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr, h.lastErrAt = err.Error(), time.Now()
}

func (h *health) status() events.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return events.Status{Connected: h.connected.Load(), Lag: h.lag.Load(), LastError: h.lastErr, LastErrorAt: h.lastErrAt}
}

// keepUp runs one connection's work (session) again and again until ctx
// ends (nil), backing off with wait between sessions (from its start
// again after one that was up), and records each session's error in h.
// It returns ErrRejected when Redis refused the settings before any
// session was ever up. what names the failure in the log.
func (h *health) keepUp(ctx context.Context, wait events.Backoff, log *slog.Logger, what string, session func(ctx context.Context, attempt int) (up bool, err error)) error {
	everUp := false
	for attempt := 0; ; attempt++ {
		up, err := session(ctx, attempt)
		if ctx.Err() != nil {
			h.connected.Store(false)
			return nil
		}
		// The error first: who sees Connected false sees why.
		h.fail(err)
		h.connected.Store(false)
		everUp = everUp || up
		if !everUp && rejected(err) {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		if up {
			wait.Reset()
		}
		d := wait.Next()
		log.Warn("redisevents: "+what+"; reconnecting", "retry_in", d, "err", err)
		if !events.Sleep(ctx, d) {
			return nil
		}
	}
}

// deliverRetrying calls deliver until it returns nil (true), backing off
// with b between errors, or until ctx ends (false). A nil error returned
// as ctx ends counts: the message was applied.
func deliverRetrying(ctx context.Context, deliver events.Deliver, m events.Message, b events.Backoff, log *slog.Logger) bool {
	for attempt := 1; ; attempt++ {
		err := deliver(ctx, m)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := b.Next()
		log.Warn("redisevents: deliver failed; retrying", "topic", m.Topic, "id", m.TransportID, "attempt", attempt, "retry_in", wait, "err", err)
		if !events.Sleep(ctx, wait) {
			return false
		}
	}
}

// orDiscard returns log, or a logger that discards if it is nil.
func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
