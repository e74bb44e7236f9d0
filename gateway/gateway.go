package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/internal/compress"
	"github.com/moatproxy/moat/internal/httpcache"
	"github.com/moatproxy/moat/policy"
	"github.com/moatproxy/moat/upstream"
)

// Options configure a Handler. Only Origin is required.
type Options struct {
	// Origin is the upstream every request is forwarded to. Its path, if
	// any, prefixes the request path.
	Origin *url.URL
	// Transport makes origin requests. If nil, a keep-alive pooling
	// http.Transport is built from OriginTimeout, DialTimeout, MaxIdleConns
	// and MaxConns.
	Transport http.RoundTripper
	// OriginTimeout bounds the wait for the origin's response header, and
	// for each next part of a body being read to be stored (a fill whose
	// origin stalls longer is abandoned, not stored). If zero, 10s.
	// Timed-out requests get 504.
	OriginTimeout time.Duration
	// DialTimeout bounds connecting to the origin. If zero, 2s.
	DialTimeout time.Duration
	// MaxIdleConns is the number of keep-alive connections kept to the
	// origin. If zero, 256; negative keeps none.
	MaxIdleConns int
	// MaxConns caps connections to the origin. Zero means no cap.
	MaxConns int
	// PreserveHost sends the client's Host to the origin instead of the
	// origin URL's host.
	PreserveHost bool
	// Upstreams are named origins: the requests of a route whose
	// Policy.Upstream names one go through its RoundTripper (typically an
	// upstream.Pool, which picks a server) to UpstreamURL(name) + path,
	// instead of to Origin. When it answers an error wrapping
	// upstream.ErrNoHealthy or upstream.ErrBusy, the client gets a stale
	// entry under stale-if-error, else 503 with Retry-After.
	Upstreams map[string]http.RoundTripper

	// Tier stores responses: this node's L1. If nil, a 64 MiB
	// cache.Memory is used. It must list its entries with a method
	// Range(fn func(key string, e *cache.Entry) bool), as cache.Memory
	// does: prefix purges walk it (New refuses a tier without one). A
	// tier shared by nodes (Redis, Memcached) goes in L2.
	Tier cache.Tier
	// L2 is an optional shared tier under Tier (Redis, Memcached, another
	// process's memory): asked on an L1 miss under L2Timeout, written after
	// the answer through a bounded queue, never needed for an answer or for
	// correctness (see l2.go). If nil, there is no L2.
	L2 cache.Tier
	// L2Timeout bounds each L2 call. If zero, 5ms.
	L2Timeout time.Duration
	// L2Queue bounds the L2 writes and deletes waiting to be sent; past it
	// they are dropped and counted. If zero, 1024.
	L2Queue int
	// L2Skew is the clock skew allowed between the nodes sharing L2: an L2
	// entry stored up to this long before a purge stamped here is treated
	// as older than the purge. If zero, 1s.
	L2Skew time.Duration
	// Policies maps requests to route policies. If nil, every request gets
	// plain RFC 9111 shared-cache behaviour.
	Policies *policy.Table
	// MaxObjectSize is the largest body stored; larger responses stream
	// through unbuffered. If zero, 8 MiB.
	MaxObjectSize int64
	// MaxFillBytes bounds the bytes all fills buffer at once (bodies read
	// from the origin before they are stored); a fill that would exceed it
	// streams through unstored (Cache-Status detail "fills-busy"). If
	// zero, 8 × MaxObjectSize; negative: no bound. The server sets it to
	// an eighth of cache.memory.
	MaxFillBytes int64
	// HeuristicMax caps heuristic freshness (RFC 9111 §4.2.2). Zero
	// disables heuristic freshness.
	HeuristicMax time.Duration
	// CoalesceTimeout bounds how long a request waits for a concurrent miss
	// of the same key before going to the origin itself. If zero,
	// OriginTimeout + DialTimeout + 1s, longer than the leader can wait.
	CoalesceTimeout time.Duration

	// HitForMissTTL is how long a key whose response was not storable
	// skips request coalescing (its requests go to the origin in parallel).
	// If zero, 10s; negative disables the marker.
	HitForMissTTL time.Duration

	// MaxOriginConcurrency caps concurrent origin requests (0: no cap).
	// Requests over it wait in a queue of OriginQueue for at most
	// OriginQueueTimeout; past that they get a stale entry if there is
	// one, else 503 with Retry-After. Routes may set their own cap.
	MaxOriginConcurrency int
	// OriginQueue bounds the requests waiting for an origin slot. If zero,
	// 1024; negative: no queue.
	OriginQueue int
	// OriginQueueTimeout bounds the wait for an origin slot. If zero,
	// OriginTimeout.
	OriginQueueTimeout time.Duration

	// RefreshConcurrency caps background refreshes running at once
	// (stale-while-revalidate, early and predictive). If zero, 16.
	RefreshConcurrency int
	// RefreshBudget is the predictive refreshes started per second at most,
	// hottest keys first. If zero, 100; negative disables predictive
	// refresh.
	RefreshBudget float64
	// Tracker estimates per-key request rates for predictive refresh (and
	// the hot-key file). If nil, predictive refresh is off.
	Tracker RateTracker

	// TagIndex indexes stored entries by tag for tag purges (and scoped
	// entries by URL). If nil with a nil Tier, the default tier's removals
	// feed a new uncapped index, bounded with the tier's bytes; if nil
	// with a Tier of the caller's, a new index capped at 1M pairs is used,
	// since nothing tells it of evictions.
	//
	// WARNING: when the tier is a cache.Memory the caller created, its
	// OnRemove must call TagIndex.Remove, or the index keeps pairs of
	// evicted entries until they are purged (and, uncapped, grows).
	TagIndex *cache.TagIndex
	// TagHeaders are the response header fields that carry an entry's tags
	// (space or comma separated). If nil: Surrogate-Key, Cache-Tag, Xkey.
	TagHeaders []string
	// TagsDownstream keeps the tag headers on responses to clients and
	// sends every entry's tags as Surrogate-Key (for a CDN). By default
	// they are removed.
	TagsDownstream bool
	// Bus, if set, carries every purge made through this handler to the
	// other nodes that share its cache, and theirs to it (see Bus). A purge
	// from the Bus is applied here and not published again.
	Bus Bus
	// Lease, with an L2, makes fills fleet-wide: one node of those that
	// share the L2 fetches a key, the others wait for its L2 write (see
	// Lease). If nil, each node fetches on its own.
	Lease Lease
	// Versions holds the namespace versions of route and all purges,
	// shared by the nodes of a fleet (see Versions). If nil, this handler's
	// own LocalVersions, which a restart loses: the node then vouches only
	// for L2 entries stored since it started (set it, e.g. to
	// redisl2.Versions, to use what L2 held before).
	Versions Versions
	// Extensions serve the routes they name (by pattern) in place of the
	// proxy (see Extension); package graphql makes one for GraphQL
	// endpoints.
	Extensions map[string]NewExtension
	// OnPurge, if set, is called after every purge (admin API, write-path
	// rules, X-Moat-Invalidate) with what was purged, e.g. to fan it out to
	// a CDN. It must not block.
	OnPurge func(Purge)

	// Normalizer canonicalizes request URLs (sorted query, tracking
	// parameters stripped, routes' params); the origin receives the
	// normalized request. If nil, paths are still canonicalized (escapes,
	// dot segments: routes are matched on them) and queries are keyed and
	// forwarded as they arrive.
	Normalizer *cachekey.Normalizer
	// Identifier resolves tiers and users for scoped routes. If nil,
	// Authorization is the only credential known and it is never
	// verified: tier and user routes then never use the cache for
	// requests that carry it.
	Identifier Identifier
	// Compress stores compressible responses once in the coding most
	// clients accept (br, zstd or gzip) and decodes on the fly for the
	// others, so Accept-Encoding never splits the cache.
	Compress bool

	// TrustedProxies are the peers (load balancers, CDNs) whose
	// X-Forwarded-For is kept and appended to on the way to the origin,
	// and read for the client's address (ClientAddr: access log). From any
	// other peer, X-Forwarded-For is replaced by the peer's address. If
	// nil, no peer is trusted.
	TrustedProxies []netip.Prefix

	// KeyHost, if set, is the host of every request's key instead of the
	// client's Host (cachekey.Options.Host "origin": the origin's host).
	//
	// WARNING: with PreserveHost the origin would answer by a Host the key
	// does not hold: one host's answer would be served for another's.
	KeyHost string
	// HostAliases map other names of a host to it (alias → canonical,
	// spelled as cachekey.Host spells them): requests and purges by URL
	// for an alias are keyed and forwarded as for the canonical host.
	HostAliases map[string]string

	// IgnoreClientCacheControl is policy.Policy.IgnoreClientCacheControl
	// for requests that match no route.
	IgnoreClientCacheControl bool

	// TargetedCacheControl are the targeted cache-control fields (RFC
	// 9213) moat obeys, in priority order: the first a response holds, if
	// valid, decides its caching instead of Cache-Control and Expires. If
	// nil: Moat-Cache-Control, then CDN-Cache-Control; an empty non-nil
	// slice obeys Cache-Control alone. The fields other than
	// CDN-Cache-Control (aimed at moat alone) are removed from responses
	// to clients; CDN-Cache-Control goes on to the CDN in front.
	TargetedCacheControl []string

	// PassRanges sends every range request to the origin and stores
	// nothing of it. By default a range request is answered from a stored
	// complete response (206, multipart/byteranges, If-Range, 416), and
	// one that misses goes to the origin as it is while the whole
	// response, if the origin's answer says it fits MaxObjectSize, is
	// fetched in the background for the next ones. Partial responses are
	// never stored.
	PassRanges bool

	// StripHeaders are request header fields removed before a request
	// reaches the origin (unless a route varies on one): fields origins
	// honour but keys do not carry. If nil, cachekey.UnkeyedHeaders; an
	// empty non-nil slice strips none.
	StripHeaders []string
	// AllowUnderscoreHeaders keeps request header fields whose name holds
	// '_'. By default they are removed, as nginx does.
	AllowUnderscoreHeaders bool
	// ClientBodyTimeout bounds the wait between two reads of a client's
	// request body on its way to the origin; a slower upload is answered
	// 408. If zero, 30s; negative: no bound.
	ClientBodyTimeout time.Duration

	// Observer receives request and origin events (metrics). If nil,
	// none are produced.
	Observer Observer
	// AccessLog, if set, receives one Info line per request (sampled by
	// AccessLogSample): method, path, status, route, cache result, key
	// hash, bytes, duration and origin time.
	AccessLog *slog.Logger
	// AccessLogSample is the share of requests logged, 0 to 1. If zero, 1.
	AccessLogSample float64

	// CacheName names this cache in Cache-Status. If empty, "moat".
	CacheName string
	// Logger receives errors and, at debug level, one line per request. If
	// nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Handler is the caching reverse proxy. Create it with New; Reload makes
// the handler of a new configuration that keeps this one's cache.
type Handler struct {
	*core // what the handlers of one cache share across reloads

	origin           *url.URL
	policies         *policy.Table
	maxObject        int64
	heuristicMax     time.Duration
	coalesceWait     time.Duration
	hitForMiss       time.Duration
	preserveHost     bool
	name             string
	log              *slog.Logger
	now              func() time.Time
	proxy            *httputil.ReverseProxy
	tracker          RateTracker
	hitMemo          sync.Map // int64 TTL second → []string Cache-Status of a fresh hit
	norm             *cachekey.Normalizer
	ident            Identifier
	mix              *compress.Mix
	obs              Observer
	lookupObs        LookupObserver
	accessLog        *slog.Logger
	accessSample     float64
	tagHeaders       []string
	tagsDown         bool
	onPurge          func(Purge)
	ns               *namespaces
	downstream       map[*policy.Policy][]string
	downstreamFields map[*policy.Policy]http.Header // the routes DownstreamFields (nil: none has any)
	refresher        *refresher
	limits           *limits
	headers          *headerFilter
	bodyTimeout      time.Duration
	originIdle       time.Duration // longest wait for the next bytes of a body being filled
	ownsTransport    *http.Transport
	ignoreClientCC   bool // for requests of no route
	passRanges       bool
	targeted         []string // canonical targeted cache-control fields, by priority
	targetedOwn      []string // those removed downstream
	proxies          trustedProxies
	upstreams        map[string]*url.URL // Policy.Upstream → the URL its requests are sent to
	keyHost          string
	hostAliases      map[string]string
	exts             map[*policy.Policy]Extension // routes served by extensions
	extVariants      map[*policy.Policy]Extension // the policies of their subrequests
	retireOnce       sync.Once
}

// Stats counts what the handler did beyond the per-request results (those
// go to the Observer: requests, hits, misses, stale, bypass). All fields are
// updated atomically.
type Stats struct {
	Revalidated    atomic.Int64            // stale entries refreshed by a 304
	Shed           atomic.Int64            // requests the origin limits turned away
	Refreshes      [numCauses]atomic.Int64 // background refreshes started, by cause
	RefreshErrors  atomic.Int64            // background refreshes that failed (logged)
	RefreshSkipped atomic.Int64            // refreshes not started: concurrency or budget exhausted
	Collapsed      atomic.Int64            // requests that waited on a concurrent miss (lock waits)
	Leaders        atomic.Int64            // coalesced fills led (lock acquisitions)
	Stored         atomic.Int64            // responses stored
	OriginRequests atomic.Int64
	OriginErrors   atomic.Int64
	Invalidations  atomic.Int64                // entries invalidated (purges, write paths, unsafe methods)
	Purges         atomic.Int64                // purge operations
	PurgesByKind   [NumPurgeKinds]atomic.Int64 // purge operations by where they came from
	PurgedByKind   [NumPurgeKinds]atomic.Int64 // entries invalidated, by where the purge came from
	PurgedFills    atomic.Int64                // fills not kept because a purge overtook them
	WriteThroughs  atomic.Int64                // answers to writes stored for their GET (write-through)
	IndexFull      atomic.Int64                // tagged responses not stored: the tag index was full
	TooLarge       atomic.Int64                // responses not stored: larger than MaxObjectSize
	ClientErrors   atomic.Int64                // requests refused or failed by the client's fault (400, 408)
	TierErrors     atomic.Int64                // tier calls that failed (logged at Warn)
	Distrusts      atomic.Int64                // times the Bus may have lost purges (everything held was dropped)
}

// ErrNoOrigin is returned by New when Options.Origin is missing.
var ErrNoOrigin = errors.New("gateway: Options.Origin is required")

// ErrTierCannotList is returned by New when Options.Tier cannot list its
// entries (see Options.Tier).
var ErrTierCannotList = errors.New("gateway: Options.Tier must list its entries")

// New validates o and returns a Handler.
func New(o Options) (*Handler, error) {
	if err := withDefaults(&o); err != nil {
		return nil, err
	}
	c, err := newCore(o)
	if err != nil {
		return nil, err
	}
	h, err := c.build(o)
	if err != nil {
		c.release()
		return nil, err
	}
	c.adopt(h)
	// Last, once the handler is whole and nothing can fail: a purge
	// delivered by the Bus may arrive at once, on another node's goroutine.
	c.join(o, h)
	// After joining: a route purge published meanwhile is in the store.
	h.loadVersionsUntilDone()
	return h, nil
}

// Reload returns the handler of a new configuration o that keeps h's
// cache: its tiers and tag index, what it knows of purges (generations,
// namespace versions, its place on the Bus), its L2 link, fill leases and
// counters. Entries of routes whose policy did not change stay reachable;
// those of a changed route are keyed under a new fingerprint (see
// namespaces) and age out.
//
// The options that belong to the cache are taken from h, and ignored in o:
// Tier, L2, L2Timeout, L2Queue, L2Skew, Bus, Lease, Versions, TagIndex,
// MaxFillBytes and Now.
//
// h goes on serving the requests it has; Close it once they are done (a
// purge made meanwhile through either handler reaches both). Closing the
// last handler of a cache closes the cache.
func (h *Handler) Reload(o Options) (*Handler, error) {
	if err := withDefaults(&o); err != nil {
		return nil, err
	}
	c := h.core
	o.Now = c.now
	if !c.hold() {
		return nil, errors.New("gateway: Reload of a closed handler")
	}
	n, err := c.build(o)
	if err != nil {
		c.release()
		return nil, err
	}
	c.adopt(n)
	// The versions this node keys under carry over by route pattern; the
	// store may know routes new to this node (another node's config).
	n.ns.adoptFrom(h.ns)
	if !n.loadVersions() {
		n.versionsUnknown.Store(true)
		c.retryVersions(n)
	}
	return n, nil
}

func withDefaults(o *Options) error {
	if o.Origin == nil || o.Origin.Host == "" || (o.Origin.Scheme != "http" && o.Origin.Scheme != "https") {
		return fmt.Errorf("%w (an absolute http or https URL)", ErrNoOrigin)
	}
	if o.KeyHost != "" && o.PreserveHost {
		return errors.New("gateway: KeyHost with PreserveHost would serve one host's answers for another's")
	}
	for _, p := range o.Policies.Policies() {
		if p.Upstream != "" && o.Upstreams[p.Upstream] == nil {
			return fmt.Errorf("gateway: route %q: no upstream %q in Options.Upstreams", p.Pattern, p.Upstream)
		}
	}
	if o.OriginTimeout == 0 {
		o.OriginTimeout = 10 * time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.MaxIdleConns == 0 {
		o.MaxIdleConns = 256
	}
	if o.MaxObjectSize == 0 {
		o.MaxObjectSize = 8 << 20
	}
	if o.MaxFillBytes == 0 {
		o.MaxFillBytes = 8 * o.MaxObjectSize
	}
	if o.CoalesceTimeout == 0 {
		// Longer than the leader's own origin request can take, so that
		// waiters hear how it ended instead of all going to a hung origin
		// at once.
		o.CoalesceTimeout = o.OriginTimeout + o.DialTimeout + time.Second
	}
	if o.OriginQueue == 0 {
		o.OriginQueue = 1024
	}
	if o.OriginQueueTimeout == 0 {
		o.OriginQueueTimeout = o.OriginTimeout
	}
	if o.RefreshConcurrency == 0 {
		o.RefreshConcurrency = 16
	}
	if o.RefreshBudget == 0 {
		o.RefreshBudget = 100
	}
	if o.HitForMissTTL == 0 {
		o.HitForMissTTL = 10 * time.Second
	}
	if o.StripHeaders == nil {
		o.StripHeaders = cachekey.UnkeyedHeaders
	}
	if o.ClientBodyTimeout == 0 {
		o.ClientBodyTimeout = 30 * time.Second
	}
	if o.CacheName == "" {
		o.CacheName = "moat"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// build makes the handler of o on the cache c: everything a configuration
// decides (routes, keys, the origin and its transport, limits, refreshes,
// extensions).
func (c *core) build(o Options) (*Handler, error) {
	h := &Handler{
		core:           c,
		origin:         o.Origin,
		policies:       o.Policies,
		maxObject:      o.MaxObjectSize,
		heuristicMax:   o.HeuristicMax,
		coalesceWait:   o.CoalesceTimeout,
		hitForMiss:     o.HitForMissTTL,
		preserveHost:   o.PreserveHost,
		name:           o.CacheName,
		log:            o.Logger,
		now:            o.Now,
		tracker:        o.Tracker,
		norm:           o.Normalizer,
		ident:          o.Identifier,
		obs:            o.Observer,
		accessLog:      o.AccessLog,
		accessSample:   cmp.Or(o.AccessLogSample, 1),
		tagsDown:       o.TagsDownstream,
		onPurge:        o.OnPurge,
		ns:             newNamespaces(o.Policies, fingerprintOf(o)),
		downstream:     map[*policy.Policy][]string{},
		headers:        newHeaderFilter(o.StripHeaders, o.AllowUnderscoreHeaders),
		bodyTimeout:    max(o.ClientBodyTimeout, 0),
		originIdle:     o.OriginTimeout,
		ignoreClientCC: o.IgnoreClientCacheControl,
		passRanges:     o.PassRanges,
		proxies:        o.TrustedProxies,
		keyHost:        o.KeyHost,
		hostAliases:    o.HostAliases,
	}
	for _, p := range o.Policies.Policies() {
		if p.Downstream != "" {
			h.downstream[p] = []string{p.Downstream}
		}
		if len(p.DownstreamFields) > 0 {
			if h.downstreamFields == nil {
				h.downstreamFields = map[*policy.Policy]http.Header{}
			}
			f := http.Header{}
			for k, v := range p.DownstreamFields {
				f[http.CanonicalHeaderKey(k)] = []string{v}
			}
			h.downstreamFields[p] = f
		}
	}
	targeted := o.TargetedCacheControl
	if targeted == nil {
		targeted = []string{"Moat-Cache-Control", "CDN-Cache-Control"}
	}
	for _, name := range targeted {
		name = http.CanonicalHeaderKey(name)
		h.targeted = append(h.targeted, name)
		if name != "Cdn-Cache-Control" {
			h.targetedOwn = append(h.targetedOwn, name)
		}
	}
	tagHeaders := o.TagHeaders
	if tagHeaders == nil {
		tagHeaders = []string{"Surrogate-Key", "Cache-Tag", "Xkey"}
	}
	for _, name := range tagHeaders {
		h.tagHeaders = append(h.tagHeaders, http.CanonicalHeaderKey(name))
	}
	if o.Compress {
		h.mix = new(compress.Mix)
	}
	h.limits = newLimits(o.MaxOriginConcurrency, o.OriginQueue, o.OriginQueueTimeout, o.Policies.Policies())
	budget := max(o.RefreshBudget, 0)
	if !anyRefreshAhead(o.Policies) || o.Tracker == nil {
		budget = 0 // no loop to run
	}
	h.refresher = newRefresher(h, o.RefreshConcurrency, budget, o.OriginTimeout+o.DialTimeout)
	h.lookupObs, _ = o.Observer.(LookupObserver)
	transport := o.Transport
	if transport == nil {
		idle := max(o.MaxIdleConns, 0)
		t := &http.Transport{
			DisableKeepAlives:     o.MaxIdleConns < 0,
			Proxy:                 nil, // the origin is reached directly, never through $HTTP_PROXY
			DialContext:           (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          idle,
			MaxIdleConnsPerHost:   idle,
			MaxConnsPerHost:       o.MaxConns,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   o.DialTimeout + 3*time.Second,
			ResponseHeaderTimeout: o.OriginTimeout,
			ExpectContinueTimeout: time.Second,
			ForceAttemptHTTP2:     true,
		}
		h.ownsTransport = t
		transport = codingTolerant{rt: t, dialTimeout: o.DialTimeout, headerWait: o.OriginTimeout}
	}
	if len(o.Upstreams) > 0 {
		r := upstreamRouter{origin: transport, pools: map[string]http.RoundTripper{}}
		h.upstreams = map[string]*url.URL{}
		for name, rt := range o.Upstreams {
			u := UpstreamURL(name)
			h.upstreams[name] = u
			r.pools[u.Host] = rt
		}
		transport = r
	}
	h.proxy = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      countingTransport{transport, h},
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.errorHandler,
		ErrorLog:       slog.NewLogLogger(o.Logger.Handler(), slog.LevelError),
		BufferPool:     bufferPool{},
	}
	if err := h.buildExtensions(o.Extensions); err != nil {
		h.refresher.close()
		return nil, err
	}
	return h, nil
}

// Close stops this handler's background refreshes (waiting for running
// ones) and releases what it created: idle origin connections. Closing
// the last handler of a cache (see Reload) also closes the cache: purges
// accepted reach L2 and the Bus, queued L2 writes are sent, and a default
// memory tier is released. It is idempotent; it does not wait for
// in-flight client requests (shut the http.Server down first).
func (h *Handler) Close() error {
	var err error
	h.retireOnce.Do(func() {
		last := h.core.retire(h)
		if last {
			h.core.stopShared()
		}
		h.refresher.close()
		if h.ownsTransport != nil {
			h.ownsTransport.CloseIdleConnections()
		}
		if last {
			err = h.core.closeShared()
		}
	})
	return err
}

func anyRefreshAhead(t *policy.Table) bool {
	for _, p := range t.Policies() {
		if p.RefreshAhead {
			return true
		}
	}
	return false
}

// countingTransport counts origin round trips and their failures, and
// reports them to the Observer.
type countingTransport struct {
	rt http.RoundTripper
	h  *Handler
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.h.stats.OriginRequests.Add(1)
	start := time.Now()
	var resp *http.Response
	var err error
	if ext := t.h.extensionOf(r.Context()); ext != nil {
		resp, err = ext.RoundTrip(r, t.rt)
	} else {
		resp, err = t.rt.RoundTrip(r)
	}
	if err != nil && clientBodyFailure(r.Context()) != 0 {
		// The client's body failed, not the origin: not an origin error.
		return resp, err
	}
	if err != nil {
		t.h.stats.OriginErrors.Add(1)
	}
	if t.h.obs != nil {
		route := ""
		if f := fillFrom(r.Context()); f != nil && f.pol != nil {
			route = f.pol.Pattern
		} else if p, ok := r.Context().Value(passKey{}).(*pass); ok && p.pol != nil {
			route = p.pol.Pattern
		}
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.h.obs.Origin(route, status, time.Since(start), err)
	}
	return resp, err
}

// rewrite builds the origin request (httputil.ReverseProxy.Rewrite): the
// origin URL, X-Forwarded-For/Host/Proto, and for a cache fill the
// conditional headers the cache, not the client, decides.
func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	// The query the key describes, byte for byte: ReverseProxy re-encodes
	// a query that url.ParseQuery rejects (";", bad escapes, too many
	// parameters) and drops what it cannot parse.
	pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	f := fillFrom(pr.Out.Context())
	var pol *policy.Policy
	if f != nil {
		pol = f.pol
	} else if p, ok := pr.Out.Context().Value(passKey{}).(*pass); ok {
		pol = p.pol
	}
	target := h.origin
	if pol != nil && pol.Upstream != "" {
		target = h.upstreams[pol.Upstream]
	}
	pr.SetURL(target)
	if h.proxies.trusts(pr.In.RemoteAddr) {
		// A trusted proxy's chain is kept; SetXForwarded appends the peer.
		if xff := pr.In.Header["X-Forwarded-For"]; len(xff) > 0 {
			pr.Out.Header["X-Forwarded-For"] = append([]string(nil), xff...)
		}
	}
	setXForwarded(pr)
	if h.preserveHost {
		pr.Out.Host = pr.In.Host
	}
	// Fields origins honour but keys do not carry stop here, on the way to
	// the origin (a hit forwards nothing, so they cost it nothing).
	h.headers.strip(pr.Out.Header, pol)
	if f == nil {
		return
	}
	if f.asGET {
		// A HEAD miss is fetched as GET so that the answer can fill the
		// cache; the server discards the body for the HEAD client.
		pr.Out.Method = http.MethodGet
	}
	if f.store {
		// The cache answers the client's own validators from the full
		// response (see conditionalWriter); the origin sees only ours.
		pr.Out.Header.Del("If-None-Match")
		pr.Out.Header.Del("If-Modified-Since")
		if h.mix != nil {
			// The transport asks for gzip and decodes it itself: the body
			// arrives as identity, and moat picks the stored coding.
			pr.Out.Header.Del("Accept-Encoding")
		}
	}
	if f.revalidate {
		if f.stale.ETag != "" {
			pr.Out.Header.Set("If-None-Match", f.stale.ETag)
		}
		if f.stale.LastModified != "" {
			pr.Out.Header.Set("If-Modified-Since", f.stale.LastModified)
		}
	}
}

// setXForwarded is httputil.ProxyRequest.SetXForwarded with the three
// values in one allocation: X-Forwarded-For (the peer appended to what is
// kept of it), X-Forwarded-Host and X-Forwarded-Proto.
func setXForwarded(pr *httputil.ProxyRequest) {
	vals := make([]string, 3)
	hdr := pr.Out.Header
	if clientIP, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
		if prior := hdr["X-Forwarded-For"]; len(prior) > 0 {
			clientIP = strings.Join(prior, ", ") + ", " + clientIP
		}
		vals[0] = clientIP
		hdr["X-Forwarded-For"] = vals[0:1:1]
	} else {
		delete(hdr, "X-Forwarded-For")
	}
	vals[1] = pr.In.Host
	hdr["X-Forwarded-Host"] = vals[1:2:2]
	vals[2] = "http"
	if pr.In.TLS != nil {
		vals[2] = "https"
	}
	hdr["X-Forwarded-Proto"] = vals[2:3:3]
}

// errorHandler answers origin failures: 504 on timeouts, 502 otherwise,
// with a short plain-text body. It is never cached.
func (h *Handler) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	f := fillFrom(r.Context())
	status, msg := http.StatusBadGateway, "moat: origin unreachable\n"
	var ne net.Error
	switch {
	case errors.Is(err, upstream.ErrNoHealthy):
		status, msg = http.StatusServiceUnavailable, "moat: no healthy origin server\n"
	case errors.Is(err, upstream.ErrBusy):
		status, msg = http.StatusServiceUnavailable, "moat: every origin server is at its connection limit\n"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		status, msg = http.StatusGatewayTimeout, "moat: origin timed out\n"
	}
	clientGone := errors.Is(err, context.Canceled) && r.Context().Err() != nil
	if f != nil {
		if !clientGone {
			// The requests coalesced on this fill get the same answer
			// instead of each trying the failing origin again.
			hdr := originErrorHeader()
			if status == http.StatusServiceUnavailable {
				hdr.Set("Retry-After", "1")
			}
			f.fail(&cache.Entry{Status: status, Header: hdr, Body: []byte(msg), NotStoredReason: "moat"})
		}
		f.release()
		if f.background {
			h.stats.RefreshErrors.Add(1)
			h.log.Warn("background refresh failed", "cause", f.cause, "url", r.URL.String(), "err", err)
			return
		}
	}
	if status := clientBodyFailure(r.Context()); status != 0 {
		// The client's upload was malformed or stalled.
		h.log.Debug("client request body failed", "url", r.URL.String(), "err", err)
		h.clientFailed(w, status)
		return
	}
	if clientGone {
		// The client went away; there is no one to answer.
		h.log.Debug("client canceled", "url", r.URL.String())
		w.WriteHeader(499)
		return
	}
	if f != nil && f.fallback != nil {
		// RFC 5861 stale-if-error: the origin is down or slow; the stored
		// answer stands in.
		f.result = ResultStale
		h.log.Warn("origin request failed, serving stale", "url", f.in.URL.String(), "err", err)
		h.serveEntry(w, f.in, f.pol, f.fallback, h.now(), httpcache.Status{Fwd: "stale", Detail: "stale-if-error"}, "STALE")
		return
	}
	h.log.Error("origin request failed", "method", r.Method, "url", r.URL.String(), "status", status, "err", err)
	hdr := w.Header()
	for k, v := range originErrorHeader() {
		hdr[k] = v
	}
	if status == http.StatusServiceUnavailable {
		hdr.Set("Retry-After", "1")
	}
	fwd := "miss"
	if f == nil {
		fwd = "bypass"
	}
	setStatus(hdr, h.name, httpcache.Status{Fwd: fwd, Detail: "origin-error"}, xCacheFor(fwd))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg))
}

// originErrorHeader is the header of moat's own answer to an origin
// failure.
func originErrorHeader() http.Header {
	return http.Header{
		"Content-Type":           {"text/plain; charset=utf-8"},
		"Cache-Control":          {"no-store"},
		"X-Content-Type-Options": {"nosniff"},
	}
}

// bufferPool recycles ReverseProxy copy buffers.
type bufferPool struct{}

var copyBuffers = newBytePool(32 << 10)

func (bufferPool) Get() []byte  { return copyBuffers.get() }
func (bufferPool) Put(b []byte) { copyBuffers.put(b) }

var _ http.Handler = (*Handler)(nil)

// tlsMarker marks synthesized requests as https for key building.
var tlsMarker = &tls.ConnectionState{}

// UpstreamURL is the URL the requests of routes of the upstream name are
// sent to (Options.Upstreams): a host of the reserved .invalid domain
// (RFC 6761) that only the upstream's RoundTripper resolves, to one of its
// servers.
func UpstreamURL(name string) *url.URL {
	return &url.URL{Scheme: "http", Host: name + ".upstream.invalid"}
}

// upstreamRouter sends a request for an upstream's URL to its
// RoundTripper, and any other to the origin's.
type upstreamRouter struct {
	origin http.RoundTripper
	pools  map[string]http.RoundTripper // by UpstreamURL host
}

func (r upstreamRouter) RoundTrip(req *http.Request) (*http.Response, error) {
	if rt := r.pools[req.URL.Host]; rt != nil {
		return rt.RoundTrip(req)
	}
	return r.origin.RoundTrip(req)
}
