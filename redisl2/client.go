// Package redisl2 puts moat's shared state in Redis (standalone, Sentinel
// or Cluster): the L2 tier (Tier, a cache.Invalidator), the namespace
// versions (Versions), the fleet-wide fill lease (Lease) and the purge bus
// (Bus). One Client serves all four over one connection pool.
//
// Redis is never needed for an answer or for correctness (docs/fleet.md):
// every call runs under the caller's deadline (the gateway's L2 timeout) with
// retries off, the gateway puts a circuit breaker in front of it, and what
// Redis holds is checked by the nodes that read it (entry keys, purge
// fences, bus sequence numbers).
//
// Key layout, under Options.KeyPrefix ("moat:" by default) and the format
// version ("1"), with the hash tag {…} keeping each resource in one Cluster
// slot so that no command ever spans slots, and no SCAN or KEYS anywhere:
//
//	<p>1:{<h>}:e:<v>   an entry (h: hash of the URL's key, v: of the full key)
//	<p>1:{<h>}:f       the URL's purge fence (time of its last invalidation)
//	<p>1:{<h>}:l:<v>   a fill lease (random token)
//	<p>1:t:{<t>}       a tag's entries (ZSET: entry key → expiry in ms)
//	<p>1:t:{<t>}:f     the tag's purge fence
//	<p>1:versions      namespace versions (HASH)
//	<p>1:{bus}:log     the purge bus (Stream), and :seq its sequence
package redisl2

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Modes of Options.Mode.
const (
	ModeStandalone = "standalone"
	ModeSentinel   = "sentinel"
	ModeCluster    = "cluster"
)

// Options configure a Client.
type Options struct {
	// Addrs are the servers to connect to, "host:port": the server
	// (standalone), the sentinels (sentinel), or seed nodes (cluster).
	Addrs []string
	// Mode is standalone (default), sentinel or cluster.
	Mode string
	// MasterName is the Sentinel master set (sentinel mode).
	MasterName string
	// Username and Password authenticate (ACL or requirepass).
	Username, Password string
	// TLS, if set, is used for every connection.
	TLS *tls.Config
	// DB selects a database (standalone and sentinel only).
	DB int
	// DialTimeout bounds connecting. Default 250ms.
	DialTimeout time.Duration
	// WriteTimeout bounds a connection that stopped answering: it is
	// closed after that long. Default 1s.
	WriteTimeout time.Duration
	// KeyPrefix starts every key. Default "moat:".
	KeyPrefix string
	// MaxObjectSize rejects larger entries (encoded) with
	// cache.ErrTooLarge. Default 8 MiB.
	MaxObjectSize int
	// CompressAbove compresses encoded entries larger than this many
	// bytes with zstd when that makes them smaller. Default 4 KiB;
	// negative: never.
	CompressAbove int
	// PoolSize is the connections kept for blocking calls (the bus
	// reader). Default rueidis's.
	PoolSize int
	// PipelineMultiplex is log2 of the pipelined connections per node.
	// Default rueidis's.
	PipelineMultiplex int
	// Now is the clock for entry lifetimes and purge fences. Default
	// time.Now.
	Now func() time.Time
	// Observe, if set, is called after each call of the tier, the lease,
	// the versions and the bus publisher with its class ("get", "set",
	// "delete", "invalidate", "lease", "versions", "publish"), how long it
	// took and its error (metrics). It must be quick.
	Observe func(class string, d time.Duration, err error)
}

// Client is a connection to Redis shared by a Tier, Versions, a Lease and
// a Bus.
type Client struct {
	conn     atomic.Pointer[conn]
	opt      rueidis.ClientOption
	done     chan struct{}
	closed   sync.Once
	observe  func(class string, d time.Duration, err error)
	prefix   string // KeyPrefix + format version + ":"
	maxObj   int
	compress int
	now      func() time.Time
	leases   leaseSet // held fill leases, extended together
}

// ErrConfig is wrapped by errors about invalid Options.
var ErrConfig = errors.New("redisl2: invalid options")

// connBuffer is the read and the write buffer of each connection;
// connRingScale is log2 of the calls in flight on each (callers wait for
// a slot beyond).
const (
	connBuffer    = 64 << 10
	connRingScale = 8
)

// flushDelay is how long a connection's writer waits after a write for
// more calls to send with the next one (rueidis MaxFlushDelay): fewer
// write system calls under load, 2x GETs/s here (docs/benchmarks.md).
// 100µs took BenchmarkHit/moat-L2-only from 23-25µs to 15-16µs an op, but
// made a fill one at a time (four round trips) 2.5 times slower: 0.8 ms to
// 1.9 ms.
const flushDelay = 20 * time.Microsecond

// formatVersion is part of every key: a release that changes what keys
// hold changes it, so that two releases never read each other's data.
const formatVersion = "1"

// New returns a client of Redis. Only invalid options are an error: when no
// server answers, the client goes on trying in the background and every
// call fails (ErrNotConnected) until one does.
func New(o Options) (*Client, error) {
	if len(o.Addrs) == 0 {
		return nil, fmt.Errorf("%w: no addrs", ErrConfig)
	}
	for _, a := range o.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("%w: addr %q: %v", ErrConfig, a, err)
		}
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 250 * time.Millisecond
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = time.Second
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "moat:"
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = 8 << 20
	}
	if o.CompressAbove == 0 {
		o.CompressAbove = 4 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	opt := rueidis.ClientOption{
		InitAddress:       o.Addrs,
		Username:          o.Username,
		Password:          o.Password,
		TLSConfig:         o.TLS,
		Dialer:            net.Dialer{Timeout: o.DialTimeout, KeepAlive: 400 * time.Millisecond},
		ConnWriteTimeout:  o.WriteTimeout,
		DisableCache:      true, // L1 is moat's own
		DisableRetry:      true, // the caller's deadline decides, and a failure is a miss
		BlockingPoolSize:  o.PoolSize,
		PipelineMultiplex: o.PipelineMultiplex,
		ClientName:        "moat",
		MaxFlushDelay:     flushDelay,
		// rueidis's defaults (0.5 MiB read and write buffers, a ring of
		// 1,024 calls, on each connection) hold 3 to 4 MiB for the life of
		// the process: a fifth of the memory limit that a 1 MiB
		// cache.memory sets (1.4 × budget + 16 MiB), which then keeps the
		// collector running. Entries are a few KiB; larger ones are read
		// and written through the buffers in several passes.
		ReadBufferEachConn:  connBuffer,
		WriteBufferEachConn: connBuffer,
		RingScaleEachConn:   connRingScale,
	}
	switch strings.ToLower(o.Mode) {
	case "", ModeStandalone:
		opt.ForceSingleClient = true
		opt.SelectDB = o.DB
	case ModeSentinel:
		if o.MasterName == "" {
			return nil, fmt.Errorf("%w: sentinel mode needs master_name", ErrConfig)
		}
		opt.Sentinel = rueidis.SentinelOption{MasterSet: o.MasterName, Username: o.Username, Password: o.Password, TLSConfig: o.TLS,
			Dialer: net.Dialer{Timeout: o.DialTimeout, KeepAlive: 400 * time.Millisecond}}
		opt.SelectDB = o.DB
	case ModeCluster:
		if o.DB != 0 {
			return nil, fmt.Errorf("%w: cluster mode has only db 0", ErrConfig)
		}
	default:
		return nil, fmt.Errorf("%w: mode %q (standalone, sentinel or cluster)", ErrConfig, o.Mode)
	}
	c := &Client{opt: opt, done: make(chan struct{}), observe: o.Observe, prefix: o.KeyPrefix + formatVersion + ":", maxObj: o.MaxObjectSize, compress: o.CompressAbove, now: o.Now}
	if err := c.connect(); err != nil {
		// Redis is never needed to serve: go on without it, and connect
		// when it answers.
		go c.reconnect()
	}
	return c, nil
}

// conn boxes the rueidis client for an atomic pointer.
type conn struct{ rueidis.Client }

// ErrNotConnected is returned by every call while no Redis server has
// answered yet (rueidis learns the topology from a first connection).
var ErrNotConnected = errors.New("redisl2: not connected to Redis yet")

func (c *Client) connect() error {
	rc, err := rueidis.NewClient(c.opt)
	if err != nil {
		return fmt.Errorf("redisl2: connecting to %s: %w", strings.Join(c.opt.InitAddress, ","), err)
	}
	c.conn.Store(&conn{rc})
	select {
	case <-c.done: // closed meanwhile
		rc.Close()
	default:
	}
	return nil
}

// reconnect tries to connect, with backoff, until it does or the client
// closes.
func (c *Client) reconnect() {
	wait := 100 * time.Millisecond
	for {
		t := time.NewTimer(wait)
		select {
		case <-c.done:
			t.Stop()
			return
		case <-t.C:
		}
		if c.connect() == nil {
			return
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// r returns the rueidis client, or ErrNotConnected.
func (c *Client) r() (rueidis.Client, error) {
	if b := c.conn.Load(); b != nil {
		return b.Client, nil
	}
	return nil, ErrNotConnected
}

// Connected reports whether a Redis server has answered since New.
func (c *Client) Connected() bool { return c.conn.Load() != nil }

// Close closes the connections. It is idempotent.
func (c *Client) Close() {
	c.closed.Do(func() {
		close(c.done)
		if b := c.conn.Load(); b != nil {
			b.Close()
		}
	})
}

// Ping checks that Redis answers within ctx.
func (c *Client) Ping(ctx context.Context) error {
	rc, err := c.r()
	if err != nil {
		return err
	}
	return rc.Do(ctx, rc.B().Ping().Build()).Error()
}

// Redis returns the underlying rueidis client (nil before it connected),
// for callers that need a command this package does not wrap (tests,
// tools).
func (c *Client) Redis() rueidis.Client {
	rc, _ := c.r()
	return rc
}

// observed reports a call of class that started at start (see
// Options.Observe). Use it as: defer c.observed("get", time.Now(), &err).
func (c *Client) observed(class string, start time.Time, err *error) {
	if c.observe != nil {
		c.observe(class, time.Since(start), *err)
	}
}
