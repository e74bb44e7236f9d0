package nats

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/internal/events"
)

// ErrConfig says a source's settings cannot work; New and Run wrap it.
var ErrConfig = errors.New("nats: bad source config")

// auth is how a source authenticates.
type auth struct {
	token, username, password string
}

// Connection timing. Reconnects are forever: a source outlives any outage.
const (
	reconnectWait = time.Second
	pingInterval  = 10 * time.Second // a dead TCP connection is noticed in about 2 intervals
)

// connect opens a connection that reconnects forever, also when the first
// attempt fails (the connection then starts out reconnecting). It fails
// only on settings the client rejects (a malformed URL). url may list
// several servers, comma-separated.
func connect(url, name string, a auth, h *health) (*natsgo.Conn, error) {
	opts := []natsgo.Option{
		natsgo.Name(name),
		natsgo.MaxReconnects(-1),
		natsgo.RetryOnFailedConnect(true),
		natsgo.ReconnectWait(reconnectWait),
		natsgo.PingInterval(pingInterval),
		natsgo.DisconnectErrHandler(func(_ *natsgo.Conn, err error) {
			if err != nil {
				h.fail("disconnected", err)
			}
		}),
		natsgo.ReconnectHandler(func(c *natsgo.Conn) {
			h.log.Info("events: reconnected to NATS", "url", c.ConnectedUrlRedacted())
		}),
		natsgo.ErrorHandler(func(_ *natsgo.Conn, _ *natsgo.Subscription, err error) {
			h.fail("asynchronous error", err) // among them a slow consumer's first drop
		}),
	}
	if a.token != "" {
		opts = append(opts, natsgo.Token(a.token))
	}
	if a.username != "" {
		opts = append(opts, natsgo.UserInfo(a.username, a.password))
	}
	return natsgo.Connect(url, opts...)
}

// closeConn flushes what is buffered (acknowledgements, NAKs) for a while,
// then closes.
func closeConn(nc *natsgo.Conn) {
	if nc.IsConnected() {
		_ = nc.FlushTimeout(time.Second)
	}
	nc.Close()
}

// health is what Status reports, shared by both sources.
type health struct {
	log   *slog.Logger
	conn  atomic.Pointer[natsgo.Conn]
	ready atomic.Bool  // subscribed (core) or consumer in place (JetStream)
	lag   atomic.Int64 // -1: unknown

	mu    sync.Mutex
	err   string
	errAt time.Time
}

func newHealth(source string, log *slog.Logger) *health {
	if log == nil {
		log = slog.Default()
	}
	h := &health{log: log.With("source", source)}
	h.lag.Store(-1)
	return h
}

// fail records and logs a transport error.
func (h *health) fail(what string, err error) {
	h.record(what, err)
	h.log.Warn("events: "+what, "err", err)
}

// record records an error for Status without logging it.
func (h *health) record(what string, err error) {
	h.mu.Lock()
	h.err, h.errAt = what+": "+err.Error(), time.Now()
	h.mu.Unlock()
}

func (h *health) status() events.Status {
	nc := h.conn.Load()
	h.mu.Lock()
	defer h.mu.Unlock()
	return events.Status{
		Connected:   nc != nil && nc.IsConnected() && h.ready.Load(),
		Lag:         h.lag.Load(),
		LastError:   h.err,
		LastErrorAt: h.errAt,
	}
}

// message converts what both APIs hand out.
func message(data []byte, hdr natsgo.Header, subject, id string) events.Message {
	m := events.Message{Data: data, Topic: subject, TransportID: id}
	if len(hdr) > 0 {
		m.Headers = make(map[string]string, len(hdr))
		for k, v := range hdr {
			if len(v) > 0 {
				m.Headers[k] = v[0]
			}
		}
	}
	return m
}
