// Package memcachel2 is moat's L2 in Memcached: a cache.Tier over one
// memcached server or a pool of them, shared by every node of a fleet.
//
// What it guarantees:
//
//   - An entry is only ever returned under the key it was stored under.
//     Memcached keys are short and printable, moat's are neither, so an
//     item is named by a hash of its key (see Tier) and holds the key
//     itself, which Get compares: two keys whose names collide, or an item
//     forged under another key's name, are misses.
//   - An entry is not returned after its KeepUntil, which is also the
//     item's expiration (Get checks it too: memcached's clock ticks in
//     seconds). An entry with nothing left to keep is not stored, and Set
//     removes what the key held.
//   - Every call is bounded: by its context and by Options.Timeout,
//     whichever ends first. A miss is (nil, nil); a server that is down,
//     hung or slow is an error, which the gateway treats as a miss behind
//     its own breaker. An item that does not decode is a miss, and is
//     deleted: decoding never panics, and decompression stops at 4 ×
//     MaxObjectSize (FuzzDecode).
//   - Entries larger than MaxObjectSize, once encoded and compressed, are
//     refused with cache.ErrTooLarge (and what the key held goes).
//   - Keys are spread over a pool by consistent hashing (160 points a
//     server): adding or removing one of N servers moves about 1/N of the
//     keys, not nearly all of them.
//
// What it does not do: Memcached has no sets, scans or scripts, so there
// is no tag index and no purge fence. The tier is a plain cache.Tier, not a
// cache.Invalidator, and the gateway's rules for such a tier apply (see
// gateway/l2.go): a purge deletes the keys its node knows of and reaches
// the other nodes only through the Bus; an entry is vouched for only if its
// fill started after the reading node did, since older ones may predate
// purges that node never heard of. A pool server that goes down loses its
// keys (they miss; nothing is moved to the others while it is away), and
// one that comes back comes back empty.
package memcachel2

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Options configure a Tier. The zero value of each field but Servers is
// usable.
type Options struct {
	// Servers are the memcached servers, "host:port" or the path of a
	// Unix socket; several make a pool, over which keys are spread by
	// consistent hashing. A key's server is chosen by these names, so every
	// node must list the same names (in any order). Names are resolved
	// when dialed. Required.
	Servers []string
	// Timeout bounds each call, with the caller's context: whichever ends
	// first. Default 100ms. On the request path the gateway's own deadline
	// (gateway.Options.L2Timeout, 5ms by default) is the shorter; Timeout
	// bounds calls made without one, and is each network step's socket
	// deadline (connect, write, read), so that a call its context gave up
	// on still ends.
	Timeout time.Duration
	// KeyPrefix starts every item's name, so that several fleets can share
	// servers. Default "moat:". Printable ASCII without spaces, at most 200
	// bytes.
	KeyPrefix string
	// MaxObjectSize is the largest item written, in bytes (the encoded
	// entry, compressed if that made it smaller, and its key); larger
	// entries are refused with cache.ErrTooLarge, as are those whose
	// encoding exceeds 4 × MaxObjectSize before compression (what Get
	// decompresses is bounded so). Default 1 MiB - 512 bytes: memcached's
	// default item size limit (-I 1m) less its item header and the item's
	// name (about 100 and at most 250 bytes). Raise it with memcached's -I,
	// never above it: an item memcached refuses is cache.ErrTooLarge too,
	// but only after it was sent.
	MaxObjectSize int
	// CompressAbove compresses encoded entries larger than this many
	// bytes with zstd when that makes them smaller. Default 4 KiB;
	// negative: never.
	CompressAbove int
	// MaxIdleConns is how many idle connections are kept to each server.
	// A call that finds none dials a new one, and closes it afterwards if
	// this many are idle. Default 16 (the gateway's L2 writers).
	MaxIdleConns int
	// Now is the clock of entry lifetimes (expirations, and Get's check of
	// KeepUntil). Default time.Now.
	Now func() time.Time
	// Observe, if set, is called after each call with its class ("get",
	// "set", "delete"), how long it took and its error (metrics), and with
	// class "corrupt" and the decoding error when Get finds an item it
	// cannot decode (a miss, so that error is not Get's). It must be quick.
	Observe func(class string, d time.Duration, err error)
}

// Defaults of Options.
const (
	defaultTimeout       = 100 * time.Millisecond
	defaultKeyPrefix     = "moat:"
	defaultMaxObjectSize = 1<<20 - 512
	defaultCompressAbove = 4 << 10
	defaultMaxIdleConns  = 16
	maxKeyPrefix         = 200
)

// Errors.
var (
	// ErrConfig is wrapped by the errors of New about invalid Options.
	ErrConfig = errors.New("memcachel2: invalid options")
	// ErrClosed is returned by calls after Close.
	ErrClosed = errors.New("memcachel2: tier closed")
	// ErrServerDown is returned, at once, by calls to a server that could
	// not be connected to, or timed out several calls in a row, less than
	// a second ago (see serverHealth).
	ErrServerDown = errors.New("memcachel2: server down")
)

// Tier is moat's L2 in Memcached. Its methods are safe for concurrent use.
//
// An entry under key is the item named KeyPrefix + "1:" + the unpadded
// base64url SHA-256 of key (50 bytes with the default prefix; "1" is the
// format version of this package's items, changed with it, so that two
// releases never read each other's items). See encode for what it holds.
type Tier struct {
	mc       *memcache.Client
	ring     *ring
	health   []serverHealth // by server index
	prefix   string         // KeyPrefix + formatVersion + ":"
	timeout  time.Duration
	maxObj   int
	maxRaw   int
	compress int
	now      func() time.Time
	observe  func(class string, d time.Duration, err error)

	// mu orders calls' start against Close: a call adds itself to calls
	// under a read lock unless closed; Close sets closed under the write
	// lock, then waits for calls.
	mu     sync.RWMutex
	closed bool
	calls  sync.WaitGroup
}

// New returns a Tier over o.Servers. Only invalid options are an error: it
// connects to no server until a call needs one.
func New(o Options) (*Tier, error) {
	if len(o.Servers) == 0 {
		return nil, fmt.Errorf("%w: Servers: none", ErrConfig)
	}
	seen := make(map[string]bool, len(o.Servers))
	for i, s := range o.Servers {
		if seen[s] {
			return nil, fmt.Errorf("%w: Servers[%d]: %q listed twice", ErrConfig, i, s)
		}
		seen[s] = true
		if strings.Contains(s, "/") {
			continue // a Unix socket
		}
		if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
			return nil, fmt.Errorf("%w: Servers[%d]: %q is not host:port or a socket path", ErrConfig, i, s)
		}
	}
	if o.Timeout < 0 {
		return nil, fmt.Errorf("%w: Timeout: %v is negative", ErrConfig, o.Timeout)
	}
	if o.Timeout == 0 {
		o.Timeout = defaultTimeout
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = defaultKeyPrefix
	}
	if len(o.KeyPrefix) > maxKeyPrefix || strings.ContainsFunc(o.KeyPrefix, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return nil, fmt.Errorf("%w: KeyPrefix: %q is not printable ASCII without spaces, at most %d bytes", ErrConfig, o.KeyPrefix, maxKeyPrefix)
	}
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = defaultMaxObjectSize
	}
	if o.CompressAbove == 0 {
		o.CompressAbove = defaultCompressAbove
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = defaultMaxIdleConns
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	r := newRing(o.Servers)
	mc := memcache.NewFromSelector(r)
	mc.Timeout = o.Timeout
	mc.MaxIdleConns = o.MaxIdleConns
	return &Tier{
		mc: mc, ring: r, health: make([]serverHealth, len(o.Servers)),
		prefix: o.KeyPrefix + formatVersion + ":", timeout: o.Timeout,
		maxObj: o.MaxObjectSize, maxRaw: 4 * o.MaxObjectSize, compress: o.CompressAbove,
		now: o.Now, observe: o.Observe,
	}, nil
}

// Close waits for the calls in flight (each ends within a few Timeouts,
// see call), then closes the idle connections. Calls after Close fail with
// ErrClosed. It is idempotent.
func (t *Tier) Close() error {
	t.mu.Lock()
	already := t.closed
	t.closed = true
	t.mu.Unlock()
	if already {
		return nil
	}
	t.calls.Wait()
	return t.mc.Close()
}

// observed reports a call of class that started at start (see
// Options.Observe). Use it as: defer t.observed("get", time.Now(), &err).
func (t *Tier) observed(class string, start time.Time, err *error) {
	if t.observe != nil {
		t.observe(class, time.Since(start), *err)
	}
}
