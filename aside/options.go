package aside

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
)

// Options configure a Cache. Name and TTL are required; the zero value of
// every other field is documented beside it.
type Options[V any] struct {
	// Name is the namespace of the cache's keys ("books"): part of every L2
	// key, so that two Caches with different Names never read each other's
	// values. Letters, digits and "-_./" only. Required.
	Name string
	// Version is the schema version of V ("2"), part of every L2 key: a
	// Cache never decodes bytes that a Cache of another Version wrote.
	// Change it with every incompatible change of V or of its Codec. Same
	// characters as Name; empty is a version like any other.
	Version string

	// TTL is how long a loaded value is fresh. Required, > 0.
	TTL time.Duration
	// TTLFunc, if set, gives a loaded value its own freshness; a result
	// <= 0 means TTL.
	TTLFunc func(key string, v V) time.Duration
	// StaleWhileRevalidate is how long past its freshness a value is still
	// served at once while one background reload runs (RFC 5861 §3). 0:
	// never; a stale value is reloaded before it is served.
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long past its freshness a value is served instead
	// of the error of a failed reload (RFC 5861 §4). 0: never.
	StaleIfError time.Duration
	// EarlyRefresh is XFetch's beta (Vattani, Chierichetti, Lowenstein:
	// "Optimal Probabilistic Cache Stampede Prevention", VLDB 2015): a hit
	// reloads the value in the background, before it expires, with a
	// probability that grows as expiry nears and with how long the last
	// load took. 1 is the paper's default; larger reloads earlier. 0: off.
	EarlyRefresh float64
	// RefreshAhead reloads in the background a value that is read in the
	// last tenth of its freshness, so that a key read steadily never
	// expires. Off by default.
	RefreshAhead bool
	// MaxRefreshes bounds the background reloads (stale-while-revalidate,
	// early and predictive) running at once; past it a refresh is skipped
	// (counted in Stats.RefreshesSkipped) and the next read tries again.
	// Default 16.
	MaxRefreshes int

	// Tags, if set, gives the tags of a loaded value (see Invalidate).
	// Tags need an L2 that is a cache.Invalidator, or none: a shared tier
	// that cannot remove by tag would keep serving what a tag purge named.
	Tags func(key string, v V) []string

	// MaxBytes bounds the memory tier (L1), in bytes as Size counts them
	// plus what each entry, its key and its tag index pairs cost around
	// the value. Default 64 MiB. A value heavier than MaxBytes/8 is not
	// kept in L1 (it still goes to L2).
	MaxBytes int64
	// Size gives the heap a value takes, in bytes. Default: the length of
	// its encoding by Codec, which is computed anyway when there is an L2.
	Size func(v V) int
	// Codec encodes values for L2 (and measures them, see Size). Default
	// JSON.
	Codec Codec[V]

	// L2 is an optional tier shared by many processes, such as
	// redisl2.Client.Tier() or a cache.SharedMemory. Values are stored as
	// cache.Entry: the encoded value as Body, Lifetime, the stale windows,
	// KeepUntil, Tags, ID and RequestTime set. L2 is an optimisation, never
	// a source of errors: a Get whose L2 call fails or takes longer than
	// L2Timeout treats it as a miss.
	L2 cache.Tier
	// L2Timeout bounds each L2 call of a Get (default 10ms); Set, Delete
	// and Invalidate allow 20 times as long.
	L2Timeout time.Duration
	// Bus, if set, carries invalidations to every Cache and moat proxy that
	// joined it (gateway.LocalBus in one process, redisl2.Client.Bus for a
	// fleet): Delete, Set and Invalidate publish on it, and purges from it
	// are applied here. A purge of All, or a bus that may have lost purges,
	// drops every value this Cache holds, and every L2 copy stored before
	// it is refused from then on. Without a Bus, the copies other
	// processes hold in their L1 live out their TTL.
	Bus gateway.Bus
	// Lease, with L2, makes loads fleet-wide (see gateway.Lease): the node
	// that takes a key's lease loads it, writes L2 and lets go; the others
	// read L2 with backoff until the value is there, the lease is gone or
	// LoadTimeout has passed, and only then load it themselves.
	Lease gateway.Lease
	// LoadTimeout bounds a load and, separately, the wait for another
	// node's load (default 10s). Loads run under a context detached from
	// their callers' (its values are kept): a caller that gives up does not
	// cancel the load the others wait for.
	LoadTimeout time.Duration
	// CacheErrors, when > 0, remembers a load's error that long (negative
	// caching): Gets return it without loading again. Errors are never
	// written to L2. Default 0: an error is never remembered.
	CacheErrors time.Duration

	// Logger receives what cannot be returned to a caller: errors of
	// background reloads, values the Codec could not encode, purges the
	// bus may have lost. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock of freshness (a fake clock makes TTL tests
	// deterministic). Default: the system clock as a goroutine of the
	// Cache reads it once a millisecond (otter's CoarseClock, shared with
	// L1's expiry), so that a hit reads a variable instead of the clock;
	// freshness is then exact to a millisecond.
	Now func() time.Time
}

// ErrOptions is wrapped by the errors of New about invalid Options.
var ErrOptions = errors.New("aside: invalid options")

// Defaults of Options.
const (
	defaultMaxBytes     = 64 << 20
	defaultL2Timeout    = 10 * time.Millisecond
	defaultLoadTimeout  = 10 * time.Second
	defaultMaxRefreshes = 16
	// purgeTimeoutFactor: an L2 call of Set, Delete or Invalidate may take
	// this many L2Timeouts (the gateway's purges allow as much).
	purgeTimeoutFactor = 20
)

// validate checks o and fills in its defaults.
func (o *Options[V]) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrOptions, fmt.Sprintf(format, args...))
	}
	if o.Name == "" {
		return bad("Name is required")
	}
	if !validName(o.Name) {
		return bad("Name %q: only letters, digits and -_./", o.Name)
	}
	if !validName(o.Version) {
		return bad("Version %q: only letters, digits and -_./", o.Version)
	}
	if o.TTL <= 0 {
		return bad("TTL must be > 0")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"StaleWhileRevalidate", o.StaleWhileRevalidate}, {"StaleIfError", o.StaleIfError},
		{"L2Timeout", o.L2Timeout}, {"LoadTimeout", o.LoadTimeout}, {"CacheErrors", o.CacheErrors}} {
		if d.v < 0 {
			return bad("%s must not be negative", d.name)
		}
	}
	if o.EarlyRefresh < 0 {
		return bad("EarlyRefresh must not be negative")
	}
	if o.MaxRefreshes < 0 {
		return bad("MaxRefreshes must not be negative")
	}
	if o.MaxBytes < 0 {
		return bad("MaxBytes must not be negative")
	}
	if o.Lease != nil && o.L2 == nil {
		return bad("Lease needs L2 (the other nodes find the leaseholder's value there)")
	}
	if o.Tags != nil && o.L2 != nil {
		if _, ok := o.L2.(cache.Invalidator); !ok {
			return bad("Tags need an L2 that is a cache.Invalidator (%T is not): a tag purge could not reach its copies", o.L2)
		}
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = defaultMaxBytes
	}
	if o.MaxRefreshes == 0 {
		o.MaxRefreshes = defaultMaxRefreshes
	}
	if o.L2Timeout == 0 {
		o.L2Timeout = defaultL2Timeout
	}
	if o.LoadTimeout == 0 {
		o.LoadTimeout = defaultLoadTimeout
	}
	if o.Codec == nil {
		o.Codec = JSON[V]()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

// validName reports whether s holds only the characters of a Name.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '/':
		default:
			return false
		}
	}
	return true
}
