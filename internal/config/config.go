// Package config is moat's configuration: plain structs, their defaults, and a YAML loader whose
// every error names the file, the line and the key path.
//
// Data flow: [Load] reads a file and hands it to [Parse]. Parse decodes the YAML into a
// yaml.Node tree, walks that tree against the Go types below (starting from [Default], so a key
// the file leaves out keeps its default), and then calls [Config.Validate] for the semantic checks.
// Every problem is collected, not just the first, and returned as one [*Error] sorted by line:
//
//	moat.yaml:7: cache.memroy: unknown key (did you mean "memory"?)
//	moat.yaml:14: routes[2].ttl: invalid duration "5x" (use e.g. 30s, 5m, 1h)
//
// Settings that are valid but probably unsafe or without effect are not errors: [Config.Warnings]
// lists them in the same form, with "warning: " before the message.
//
// The decoder derives the known keys of every mapping from the yaml struct tags, so adding a
// field with a yaml tag is all it takes for a new key to be accepted, decoded and suggested in
// "did you mean" hints. A field type may take over its own decoding by implementing
// yaml.Unmarshaler (as [Duration] and [ByteSize] do) or encoding.TextUnmarshaler.
//
// A Config built in code should start from [Default]: the zero Config is not valid (it has no
// listen address and no cache memory). Validate never fills in defaults; it only checks.
package config

import (
	"fmt"
	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/internal/auth"
	"github.com/moatproxy/moat/internal/tracing"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Config is the whole of moat's configuration, as read from moat.yaml.
type Config struct {
	// Listen is the host:port the gateway serves on. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// TLS, when both files are set, makes the gateway listener serve HTTPS.
	TLS TLS `yaml:"tls"`
	// Admin is the separate admin listener (purge API, stats, metrics).
	Admin Admin `yaml:"admin"`
	// Origin is the API being cached.
	Origin Origin `yaml:"origin"`
	// Upstreams are named pools of origin servers, balanced and health
	// checked, for routes (routes[].upstream) or every request
	// (origin.upstream). See Upstream.
	Upstreams map[string]Upstream `yaml:"upstreams,omitempty"`
	// Cache sizes the cache and bounds heuristic freshness and request coalescing.
	Cache Cache `yaml:"cache"`
	// Log selects the log level and format.
	Log Log `yaml:"log"`
	// Routes are the per-route caching policies. A request that matches no route gets plain
	// RFC 9111 shared-cache behaviour: only what the origin marks cacheable is stored.
	Routes []Route `yaml:"routes"`
	// Volatility overrides the built-in volatility classes (static,
	// semi-dynamic, dynamic, realtime) or defines new ones.
	Volatility map[string]VolatilityOverride `yaml:"volatility,omitempty"`
	// Hotkeys records the hottest keys to a file, for `moat warm --from
	// hotkeys` after a restart.
	Hotkeys Hotkeys `yaml:"hotkeys"`
	// Keys configures cache-key normalization for every route: sorted
	// query, tracking parameters stripped, collapsed slashes.
	Keys cachekey.Options `yaml:"keys"`
	// Auth says how a request's tier and user are known, from verified
	// sources only (JWT, trusted upstream header, API keys). See
	// docs/auth.md.
	Auth auth.Config `yaml:"auth"`
	// Tags configures surrogate keys (tags) on stored responses.
	Tags Tags `yaml:"tags"`
	// Tracing turns on OpenTelemetry tracing of client requests (off by
	// default). See docs/observability.md.
	Tracing tracing.Config `yaml:"tracing"`
	// PurgeTargets are the other cache layers every purge is forwarded to
	// (another moat, Cloudflare, Fastly, Akamai, Varnish), each in its own
	// API, with retries and a bounded queue. See [PurgeTarget].
	PurgeTargets []PurgeTarget `yaml:"purge_targets,omitempty"`
	// Security hardens the handling of client requests: header fields
	// removed before the origin, underscore header names, slow uploads.
	Security Security `yaml:"security"`
	// ShutdownDelay is how long, after SIGTERM, moat keeps serving with
	// /readyz answering 503, so that a load balancer stops sending it
	// requests before it stops listening (then in-flight requests drain).
	// Default 0s.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	// TrustedProxies are the load balancers and CDNs in front of moat, as
	// CIDRs or addresses: their X-Forwarded-For is kept (and appended to)
	// and the client's address is read from it; any other peer's is
	// replaced. Default none.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// Events are the application's change streams (Kafka, NATS,
	// JetStream, Redis pub/sub and Streams) whose events become purges.
	// See [Events] and docs/invalidation.md.
	Events Events `yaml:"events"`

	// Source is the file name the config was read from ("" for built-in configs); set by Load
	// and Parse. Errors from Validate name it.
	Source string `yaml:"-"`

	// lines maps a key path ("routes[2].ttl") to its line in Source, so that Validate can
	// report semantic errors at the right line. Nil for configs built in code.
	lines map[string]int
}

// TLS names the certificate and key for the gateway listener. Both or neither must be set; when
// set, the files must exist and form a key pair (checked by Validate with tls.LoadX509KeyPair).
// Load resolves relative paths against the directory of the config file; Parse leaves them
// relative to the working directory.
type TLS struct {
	CertFile string `yaml:"cert_file" config:"path"`
	KeyFile  string `yaml:"key_file" config:"path"`
}

// Admin is the admin listener.
//
// WARNING: Token is a secret. Do not log a Config with %v or hand it to a template.
type Admin struct {
	// Listen is the host:port of the admin listener; "" (the default) means no admin listener.
	Listen string `yaml:"listen"`
	// Token is the bearer token the admin API requires. It is required when Listen is set. In a
	// file, a value that is exactly "${NAME}" is replaced by the environment variable NAME (an
	// error if it is unset or empty); no other key expands variables.
	Token string `yaml:"token" config:"env"`
}

// Origin is the upstream API that moat caches.
type Origin struct {
	// URL is the origin's base URL: absolute http or https, with a host, without query,
	// fragment or user info. A path prefix is allowed and is prepended to every request path.
	// Validate accepts "" (the demo builds its origin in code); ValidateServe requires it.
	URL string `yaml:"url"`
	// Upstream, instead of URL, names the upstream (see Upstreams) that
	// every request without a route upstream of its own goes to.
	Upstream string `yaml:"upstream"`
	// Timeout bounds the wait for the origin's response headers, dialing included.
	// Default 10s; must be positive.
	Timeout Duration `yaml:"timeout"`
	// DialTimeout bounds connecting to the origin. Default 2s; must be positive.
	DialTimeout Duration `yaml:"dial_timeout"`
	// MaxIdleConns is how many keep-alive connections to the origin are kept idle.
	// Default 256; 0 keeps none.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// MaxConns caps the connections to the origin, busy or idle. 0 (the default) is unlimited.
	MaxConns int `yaml:"max_conns"`
	// MaxConcurrency caps concurrent origin requests (0, the default: no
	// cap). Requests over it wait in a queue; past the queue they get a
	// stale entry if there is one, else 503 with Retry-After.
	MaxConcurrency int `yaml:"max_concurrency"`
	// Queue bounds the requests waiting for an origin slot. Default 1024.
	Queue int `yaml:"queue"`
	// QueueTimeout bounds the wait for an origin slot. 0 (the default)
	// means timeout.
	QueueTimeout Duration `yaml:"queue_timeout"`
	// HostHeader is the Host sent to the origin: "origin" (the default; the host of URL) or
	// "client" (the Host the client sent).
	HostHeader string `yaml:"host_header"`
}

// Host header modes for Origin.HostHeader.
const (
	HostHeaderOrigin = "origin"
	HostHeaderClient = "client"
)

// Cache sizes the in-memory cache (L1).
type Cache struct {
	// Memory is the L1 budget in bytes of stored responses. Default 256MiB; minimum 1MiB.
	Memory ByteSize `yaml:"memory"`
	// MaxObjectSize is the largest response body that is stored; larger ones pass through.
	// Default 8MiB; must be positive and at most Memory.
	MaxObjectSize ByteSize `yaml:"max_object_size"`
	// HeuristicMax caps the heuristic freshness of RFC 9111 §4.2.2 (a fraction of the time since
	// Last-Modified, for responses without explicit freshness). Default 24h; 0 disables
	// heuristic freshness.
	HeuristicMax Duration `yaml:"heuristic_max"`
	// CoalesceTimeout is how long a request waits for a concurrent identical miss to be answered
	// before going to the origin itself. 0 (the default) means Origin.Timeout +
	// Origin.DialTimeout + 1s; use [Config.CoalesceTimeout] for the effective value.
	CoalesceTimeout Duration `yaml:"coalesce_timeout"`
	// HitForMiss is how long a key whose response was not storable skips
	// request coalescing, so its requests go to the origin in parallel.
	// Default 10s; 0s turns it off.
	HitForMiss Duration `yaml:"hit_for_miss"`
	// ClientCacheControl is what moat does with a client's Cache-Control
	// and Pragma (no-cache, max-age, min-fresh, max-stale, no-store):
	// "honor" them as RFC 9111 says (the default), or "ignore" them as
	// nginx and Varnish do, so that clients cannot send their requests to
	// the origin at will. only-if-cached is always honoured. Routes may
	// choose for themselves.
	ClientCacheControl string `yaml:"client_cache_control"`
	// RangeRequests is how range requests are answered: "serve" (the
	// default: from a stored complete response, the whole response
	// fetched in the background after a miss) or "pass" (every range goes
	// to the origin, nothing of it is stored).
	RangeRequests string `yaml:"range_requests"`
	// Name is this cache's name in Cache-Status (RFC 9211). Default
	// "moat"; give each tier of moats its own ("edge", "shield").
	Name string `yaml:"name"`
	// TargetedCacheControl are the targeted cache-control fields (RFC
	// 9213) moat obeys over Cache-Control, in priority order. Default
	// [Moat-Cache-Control, CDN-Cache-Control]; [] obeys Cache-Control
	// alone.
	TargetedCacheControl *[]string `yaml:"targeted_cache_control"`
	// Compression stores compressible responses once, compressed (br, zstd
	// or gzip, whichever most recent clients accept), and decodes on the
	// fly for clients that accept none, so Accept-Encoding never splits
	// the cache. Default true.
	Compression bool `yaml:"compression"`
	// RefreshConcurrency caps background refreshes running at once
	// (stale-while-revalidate, early and predictive). Default 16.
	RefreshConcurrency int `yaml:"refresh_concurrency"`
	// RefreshBudget is the predictive refreshes per second at most, spent
	// on the hottest keys first. Default 100; 0 turns predictive refresh
	// off.
	RefreshBudget float64 `yaml:"refresh_budget"`
	// Redis, if set, puts a shared L2 in Redis under this memory tier, and shares namespace
	// versions, fill leases and purges with the other nodes that use it (see [Redis]).
	Redis *Redis `yaml:"redis,omitempty"`
	// Memcached, if set, puts the shared L2 in Memcached instead (see
	// [Memcached]); with Redis also set, Redis keeps the bus, versions and
	// leases.
	Memcached *Memcached `yaml:"memcached,omitempty"`
	// NATSBus carries purges between nodes over NATS when Redis does not
	// (see [NATSBus]).
	NATSBus *NATSBus `yaml:"nats_bus,omitempty"`
}

// Tags configures surrogate keys.
type Tags struct {
	// Headers are the origin response fields that list an entry's tags
	// (space or comma separated). Default Surrogate-Key, Cache-Tag, xkey.
	Headers []string `yaml:"headers,omitempty"`
	// Downstream keeps the tag fields on responses to clients and sends
	// every entry's tags as Surrogate-Key (for a CDN). Default false: they
	// are removed.
	Downstream bool `yaml:"downstream"`
	// MaxIndex caps the tag index, in (tag, entry) pairs: a tagged
	// response that would exceed it is not stored. 0 (the default) sets no
	// separate cap: each entry's tag-index pairs are accounted in its size,
	// so the index is bounded by Cache.Memory. Must not be negative.
	MaxIndex int `yaml:"max_index"`
}

// Edge is what a route tells the CDN or cache in front of moat (RFC 9213
// targeted fields, surrogate controls and tag fields), so that it caches
// with its own lifetime and tags while browsers get Cache-Control.
type Edge struct {
	// CDNCacheControl is sent as CDN-Cache-Control (every CDN that
	// implements RFC 9213).
	CDNCacheControl *Downstream `yaml:"cdn_cache_control"`
	// CloudflareCDNCacheControl is sent as Cloudflare-CDN-Cache-Control
	// (Cloudflare alone).
	CloudflareCDNCacheControl *Downstream `yaml:"cloudflare_cdn_cache_control"`
	// SurrogateControl is sent as Surrogate-Control (Fastly, Akamai,
	// Varnish setups).
	SurrogateControl *Downstream `yaml:"surrogate_control"`
	// TagHeaders carry each stored response's tags to the CDN: Cache-Tag
	// (Cloudflare) and Edge-Cache-Tag (Akamai) comma-separated,
	// Surrogate-Key (Fastly) and xkey (Varnish) space-separated.
	TagHeaders []string `yaml:"tag_headers,omitempty"`
}

// Fields returns the header fields e sets, by canonical name.
func (e *Edge) Fields() map[string]string {
	out := map[string]string{}
	if e == nil {
		return out
	}
	for name, d := range map[string]*Downstream{"Cdn-Cache-Control": e.CDNCacheControl, "Cloudflare-Cdn-Cache-Control": e.CloudflareCDNCacheControl, "Surrogate-Control": e.SurrogateControl} {
		if v := d.CacheControl(); v != "" {
			out[name] = v
		}
	}
	return out
}

// Downstream is the Cache-Control a route sends to clients and CDNs,
// independent of moat's own freshness.
type Downstream struct {
	MaxAge               *Duration `yaml:"max_age"`
	SMaxAge              *Duration `yaml:"s_maxage"`
	StaleWhileRevalidate *Duration `yaml:"stale_while_revalidate"`
	StaleIfError         *Duration `yaml:"stale_if_error"`
	Public               bool      `yaml:"public"`
	Private              bool      `yaml:"private"`
	NoStore              bool      `yaml:"no_store"`
	NoCache              bool      `yaml:"no_cache"`
	Immutable            bool      `yaml:"immutable"`
}

// CacheControl renders d as a Cache-Control field value ("" when d sets
// nothing).
func (d *Downstream) CacheControl() string {
	if d == nil {
		return ""
	}
	var parts []string
	flag := func(on bool, name string) {
		if on {
			parts = append(parts, name)
		}
	}
	secs := func(v *Duration, name string) {
		if v != nil {
			parts = append(parts, fmt.Sprintf("%s=%d", name, int64(v.D()/time.Second)))
		}
	}
	flag(d.Public, "public")
	flag(d.Private, "private")
	flag(d.NoStore, "no-store")
	flag(d.NoCache, "no-cache")
	secs(d.MaxAge, "max-age")
	secs(d.SMaxAge, "s-maxage")
	secs(d.StaleWhileRevalidate, "stale-while-revalidate")
	secs(d.StaleIfError, "stale-if-error")
	flag(d.Immutable, "immutable")
	return strings.Join(parts, ", ")
}

// Hotkeys configures the hot-key file.
type Hotkeys struct {
	// File is where the hottest keys are written, periodically and at
	// shutdown. "" (the default) records nothing to disk (rates are still
	// tracked for refresh_ahead).
	File string `yaml:"file" config:"path"`
	// Top is how many keys are written. Default 1000.
	Top int `yaml:"top"`
	// Interval is how often the file is written. Default 1m.
	Interval Duration `yaml:"interval"`
	// Capacity is how many keys are tracked. Default 10000.
	Capacity int `yaml:"capacity"`
	// HalfLife is how fast a key's tracked request rate forgets the past.
	// Short enough that refresh_ahead sees a key turn hot within a few
	// TTLs. Default 10s.
	HalfLife Duration `yaml:"half_life"`
}

// Log selects the gateway's logging.
type Log struct {
	// Access logs one Info line per request (method, path, status, route,
	// cache result, key hash, bytes, duration, origin time). Default false;
	// at level debug every request is logged anyway.
	Access bool `yaml:"access"`
	// AccessSample is the share of requests logged ("10%"). Default 100%.
	AccessSample Percent `yaml:"access_sample"`
	// AccessFile, if set, is where access lines go instead of the
	// application log (stderr); SIGUSR1 reopens it (logrotate). Setting it
	// turns the access log on.
	AccessFile string `yaml:"access_file" config:"path"`
	// AccessFormat is text (slog key=value, the default), json (durations
	// in milliseconds as numbers) or combined (Apache's combined format,
	// then host, cache result, route and milliseconds).
	AccessFormat string `yaml:"access_format"`
	// Level is one of debug, info, warn, error. Default info.
	Level string `yaml:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format"`
}

// Route is the caching policy of the requests that match one pattern.
type Route struct {
	// Match is a Go 1.22 net/http.ServeMux pattern without a host: "[METHOD ]/path", with
	// wildcards {name}, {name...} and {$}. Required. Without a method it matches all methods;
	// GET also matches HEAD. The most specific matching pattern wins.
	Match string `yaml:"match"`
	// TTL is the freshness lifetime given to a cacheable response that carries no explicit
	// freshness (no max-age, s-maxage or Expires). 0 (the default) means plain RFC 9111.
	TTL Duration `yaml:"ttl"`
	// OverrideOrigin makes TTL replace the origin's explicit freshness too. It never overrides
	// no-store, private or no-cache. Requires TTL > 0.
	OverrideOrigin bool `yaml:"override_origin"`
	// Cache, when false, bypasses the cache for this route (Cache-Status: fwd=bypass).
	// nil (the default) means true; use [Route.Cached].
	Cache *bool `yaml:"cache"`
	// AllowSetCookie stores responses that carry Set-Cookie. The stored copy has Set-Cookie
	// removed; the client whose request filled the cache still receives it.
	//
	// WARNING: the rest of the stored response must not be specific to that client.
	AllowSetCookie bool `yaml:"allow_set_cookie"`

	// Volatility selects a volatility class (static, semi-dynamic,
	// dynamic, realtime, or one defined under the top-level volatility:)
	// whose settings apply unless the route sets them itself.
	Volatility string `yaml:"volatility"`
	// Freshness: stale_while_revalidate (serve stale at once for this long
	// past freshness while one background refresh runs, RFC 5861; applies
	// when the origin sends none, or always with override_origin),
	// stale_if_error (serve stale this long past freshness when the origin
	// answers 5xx, times out or refuses connections), ttl_jitter (shorten
	// each entry's freshness by a random fraction up to this, 0 to 50%),
	// early_refresh (the XFetch beta: 0 off, 1 usual), refresh_ahead
	// (refresh hot entries shortly before they expire), coalesce (one
	// origin request for concurrent misses of a key; default true).
	Freshness `yaml:",inline"`
	// MaxOriginConcurrency caps this route's concurrent origin requests.
	// 0 (the default): only origin.max_concurrency applies.
	MaxOriginConcurrency int `yaml:"max_origin_concurrency"`

	// Params are the route's query rules: defaults removed, an allow list,
	// parameters to strip.
	Params *cachekey.Params `yaml:"params"`
	// Vary adds these request headers to the key, normalized:
	// Accept-Language to the best of Languages, Accept to the best of
	// MediaTypes, others lower-cased and trimmed. The origin receives the
	// normalized values. The origin's own Vary is honoured on top.
	Vary []string `yaml:"vary,omitempty"`
	// Languages are the languages the route serves, for Vary:
	// Accept-Language (e.g. [en, de, fr]).
	Languages []string `yaml:"languages,omitempty"`
	// MediaTypes are the media types the route serves, for Vary: Accept.
	MediaTypes []string `yaml:"media_types,omitempty"`
	// Scope is who shares an entry: public (everyone; requests with
	// credentials bypass unless AllowCredentials), tier (all callers of
	// one verified tier), user (one verified user). Default public.
	Scope string `yaml:"scope"`
	// AllowCredentials lets requests that carry credentials use a public
	// route's cache (under RFC 9111 §3.5's rules). Default false.
	AllowCredentials bool `yaml:"allow_credentials"`

	// Tags are tag templates added to every stored response of the route,
	// e.g. "product:{id}" ({id} is the pattern's wildcard).
	Tags []string `yaml:"tags,omitempty"`
	// Invalidate are tag templates purged after a 2xx answer to a request
	// of the route (write-path invalidation).
	Invalidate []string `yaml:"invalidate,omitempty"`
	// WriteThrough, on a PUT or PATCH route, says a 2xx answer's body is
	// the written resource's new state: moat stores it as the entry for
	// the GET of the same URI (an answer whose Content-Location is the
	// target URI is stored so without it). Default false.
	WriteThrough bool `yaml:"write_through"`
	// Version is the route's namespace version; changing it invalidates
	// every stored entry of the route at once. Default 0.
	Version uint64 `yaml:"version"`
	// Downstream sets the Cache-Control sent to clients on the route's
	// responses, independent of moat's own TTL.
	Downstream *Downstream `yaml:"downstream"`
	// ClientCacheControl is cache.client_cache_control for this route
	// ("" takes the global one).
	ClientCacheControl string `yaml:"client_cache_control"`
	// GraphQL makes the route a GraphQL endpoint (see GraphQL).
	GraphQL *GraphQL `yaml:"graphql"`
	// Upstream names the upstream (see Config.Upstreams) the route's
	// requests go to instead of the origin.
	Upstream string `yaml:"upstream"`
	// Edge sets what the CDN in front of moat reads on the route's
	// responses (see Edge).
	Edge *Edge `yaml:"edge"`

	// Line is the line of this route in the config's Source (0 for routes built in code), for
	// runtime messages such as "route at moat.yaml:12".
	Line int `yaml:"-"`
}

// Cached reports whether the route uses the cache: Cache is nil or true.
func (r Route) Cached() bool { return r.Cache == nil || *r.Cache }

// Defaults, as set by Default.
const (
	DefaultListen             = "127.0.0.1:8080"
	DefaultOriginTimeout      = Duration(10 * time.Second)
	DefaultDialTimeout        = Duration(2 * time.Second)
	DefaultMaxIdleConns       = 256
	DefaultMemory             = 256 * MiB
	DefaultMaxObjectSize      = 8 * MiB
	DefaultHeuristicMax       = Duration(24 * time.Hour)
	MinMemory                 = 1 * MiB
	DefaultOriginQueue        = 1024
	DefaultHitForMiss         = Duration(10 * time.Second)
	DefaultRefreshConcurrency = 16
	DefaultRefreshBudget      = 100.0
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "text"
	DefaultClientBodyTimeout  = Duration(30 * time.Second)
	DefaultMaxHeaderBytes     = ByteSize(64 << 10)
)

// Default returns a Config with every default set, no origin and no routes. Parse starts from
// it, so a key a file leaves out keeps the value shown here.
func Default() *Config {
	return &Config{
		Listen: DefaultListen,
		Origin: Origin{
			Timeout:      DefaultOriginTimeout,
			DialTimeout:  DefaultDialTimeout,
			MaxIdleConns: DefaultMaxIdleConns,
			HostHeader:   HostHeaderOrigin,
			Queue:        DefaultOriginQueue,
		},
		Cache: Cache{
			Memory:             DefaultMemory,
			MaxObjectSize:      DefaultMaxObjectSize,
			HeuristicMax:       DefaultHeuristicMax,
			HitForMiss:         DefaultHitForMiss,
			Compression:        true,
			RefreshConcurrency: DefaultRefreshConcurrency,
			RefreshBudget:      DefaultRefreshBudget,
		},
		Hotkeys: Hotkeys{Top: 1000, Interval: Duration(time.Minute), Capacity: 10000, HalfLife: Duration(10 * time.Second)},
		Log:     Log{Level: DefaultLogLevel, Format: DefaultLogFormat, AccessSample: 1},
		Security: Security{
			StripHeaders:      slices.Clone(cachekey.UnkeyedHeaders),
			ClientBodyTimeout: DefaultClientBodyTimeout,
			MaxHeaderBytes:    DefaultMaxHeaderBytes,
		},
	}
}

// CoalesceTimeout is the effective Cache.CoalesceTimeout: when it is zero, Origin.Timeout +
// Origin.DialTimeout + 1s, longer than the leading request can take, so that waiters hear how it
// ended instead of all going to a hung origin at once.
func (c *Config) CoalesceTimeout() time.Duration {
	if c.Cache.CoalesceTimeout > 0 {
		return c.Cache.CoalesceTimeout.D()
	}
	return c.Origin.Timeout.D() + c.Origin.DialTimeout.D() + time.Second
}

// SlogLevel is Level as a slog.Level; info for "" or an unknown level.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// IgnoresClientCacheControl reports whether requests of r (nil: requests
// of no route) ignore their Cache-Control and Pragma.
func (c *Config) IgnoresClientCacheControl(r *Route) bool {
	if r != nil && r.ClientCacheControl != "" {
		return r.ClientCacheControl == "ignore"
	}
	return c.Cache.ClientCacheControl == "ignore"
}

// TrustedProxyPrefixes returns TrustedProxies parsed (Validate checked
// them).
func (c *Config) TrustedProxyPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.TrustedProxies {
		if p, err := parsePrefix(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix parses a CIDR, or an address as the prefix of itself alone.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
