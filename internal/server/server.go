// Package server assembles a running moat from a config: the L1 tier, the
// route policies, the gateway handler, the gateway and admin listeners, and
// their orderly shutdown.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/accesslog"
	"github.com/moatproxy/moat/internal/admin"
	"github.com/moatproxy/moat/internal/admin/ui"
	"github.com/moatproxy/moat/internal/auth"
	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/fanout"
	"github.com/moatproxy/moat/internal/hotkeys"
	"github.com/moatproxy/moat/internal/metrics"
	"github.com/moatproxy/moat/internal/onewrite"
	"github.com/moatproxy/moat/internal/tracing"
	"github.com/moatproxy/moat/policy"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server is a configured moat. Start binds its listeners; Reload applies
// a new configuration without dropping a request or the cache; Shutdown
// drains and stops them.
type Server struct {
	accessFile *accesslog.File // nil: the access log has no file of its own
	log        *slog.Logger
	memory     *cache.Memory
	metrics    *metrics.Metrics
	reg        *prometheus.Registry
	tracker    *hotkeys.Tracker
	tags       *cache.TagIndex
	tracing    *tracing.Tracing
	fleet      *fleet
	gqlObs     *metrics.GraphQL // made with the first GraphQL route
	sessions   *admin.Sessions  // dashboard logins, kept across reloads (a new admin token ends them)
	reloads    *prometheus.CounterVec
	reloadedAt prometheus.Gauge
	events     *events.Runner // nil without events.sources
	stopHot    context.CancelFunc
	hotDone    chan struct{}

	// cur is the configuration serving requests; older ones finish the
	// requests they had, then close (see retire).
	cur      atomic.Pointer[generation]
	gens     []*generation // live configurations, the current one last (under mu)
	reloadMu sync.Mutex    // one Reload at a time
	source   func() (*config.Config, error)
	retiring sync.WaitGroup
	stopping chan struct{} // closed by Shutdown: retiring configurations close now
	cert     atomic.Pointer[tls.Certificate]

	stopFleetHot context.CancelFunc
	fleetHotDone chan struct{}
	proxy        *http.Server
	admin        *http.Server
	ready        atomic.Bool
	hold         atomic.Bool // Start leaves readiness to MarkReady

	restoreMemLimit func() // puts back the runtime memory limit Start set

	mu        sync.Mutex
	listeners []net.Listener
	served    sync.WaitGroup
	errs      chan error
	closed    bool
}

// New builds a Server from cfg, which must have passed Validate.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	tags := cache.NewTagIndex(cfg.Tags.MaxIndex)
	mem, err := cache.NewMemory(cache.MemoryOptions{
		MaxBytes:      int64(cfg.Cache.Memory),
		MaxObjectSize: int64(cfg.Cache.MaxObjectSize) + objectHeadroom,
		OnRemove:      func(k string, e *cache.Entry) { tags.Remove(k, e) },
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	tracker := hotkeys.New(hotkeys.Options{Capacity: cfg.Hotkeys.Capacity, HalfLife: cfg.Hotkeys.HalfLife.D()})
	tr, err := tracing.New(context.Background(), cfg.Tracing, os.Stdout, tracing.WithLogger(log))
	if err != nil {
		mem.Close()
		return nil, fmt.Errorf("server: tracing: %w", err)
	}
	var accessFile *accesslog.File
	if cfg.Log.AccessFile != "" {
		if accessFile, err = accesslog.Open(cfg.Log.AccessFile); err != nil {
			mem.Close()
			return nil, fmt.Errorf("server: log.access_file: %w", err)
		}
	}
	var observeRedis func(string, time.Duration, error)
	if cfg.Cache.Redis != nil {
		observeRedis = metrics.RedisCalls(reg)
	}
	fl, err := newFleet(cfg, log, observeRedis)
	if err != nil {
		mem.Close()
		return nil, err
	}
	s := &Server{
		accessFile: accessFile, log: log, memory: mem, reg: reg, tracker: tracker, tags: tags,
		tracing: tr, fleet: fl, metrics: metrics.New(reg, patternsOf(cfg)),
		stopping: make(chan struct{}), errs: make(chan error, 2),
		sessions: admin.NewSessions(admin.SessionsOptions{}),
	}
	s.reloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "moat_config_reloads_total", Help: "Configuration reloads (SIGHUP, moat reload), by result (ok; error: the config was refused and the previous one kept serving).",
	}, []string{"result"})
	s.reloadedAt = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "moat_config_last_reload_success_timestamp_seconds", Help: "When the configuration serving requests was loaded (Unix time).",
	})
	reg.MustRegister(s.reloads, s.reloadedAt)
	g, err := s.build(cfg, nil)
	if err != nil {
		mem.Close()
		fl.close()
		return nil, err
	}
	s.cur.Store(g)
	s.gens = []*generation{g}
	if s.events, err = newEvents(cfg, log, s.applyEvent); err != nil {
		g.gw.Close()
		mem.Close()
		fl.close()
		return nil, err
	}
	if s.events != nil {
		reg.MustRegister(s.events.Collector())
	}
	s.reloadedAt.SetToCurrentTime()
	metrics.RegisterComponents(reg, metrics.Components{
		Gateway:   func() *gateway.Handler { return s.cur.Load().gw },
		Fanout:    func() *fanout.Fanout { return s.cur.Load().fanout },
		Upstreams: s.upstreamPools,
		Memory:    mem, Tags: tags, Hotkeys: tracker, Redis: fl.client, Bus: fl.busStats,
	})
	s.proxy = &http.Server{
		Handler:           tr.Middleware(http.HandlerFunc(s.serveProxy)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    int(cfg.Security.MaxHeaderBytes),
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	onewrite.Configure(s.proxy)
	if cfg.Admin.Listen != "" {
		s.admin = &http.Server{
			Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.cur.Load().admin.ServeHTTP(w, r) }),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	return s, nil
}

// build makes what cfg decides on the process's cache: the gateway (from
// prev's with gateway.Handler.Reload, keeping the cache), its purge
// fan-out (prev's when the targets did not change), the auth resolver
// (re-reading JWKS and API-key files), the GraphQL endpoints and the
// admin API (its token).
func (s *Server) build(cfg *config.Config, prev *generation) (*generation, error) {
	log := s.log
	origin := gateway.UpstreamURL(cfg.Origin.Upstream)
	if cfg.Origin.Upstream == "" {
		var err error
		if origin, err = url.Parse(cfg.Origin.URL); err != nil || origin.Host == "" {
			return nil, fmt.Errorf("server: origin.url %q: not an absolute URL", cfg.Origin.URL)
		}
	}
	norm, err := cachekey.NewNormalizer(cfg.Keys)
	if err != nil {
		return nil, fmt.Errorf("server: keys: %w", err)
	}
	pols := make([]policy.Policy, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		v := cfg.Effective(r)
		p := policy.Policy{
			Pattern:                  r.Match,
			TTL:                      v.TTL.D(),
			OverrideOrigin:           r.OverrideOrigin,
			Bypass:                   !r.Cached(),
			AllowSetCookie:           r.AllowSetCookie,
			StaleWhileRevalidate:     v.StaleWhileRevalidate.D(),
			StaleIfError:             v.StaleIfError.D(),
			TTLJitter:                float64(v.TTLJitter),
			EarlyRefresh:             v.EarlyRefresh,
			RefreshAhead:             v.RefreshAhead,
			NoCoalesce:               !v.Coalesce,
			IgnoreClientCacheControl: cfg.IgnoresClientCacheControl(r),
			MaxOriginConcurrency:     r.MaxOriginConcurrency,
			Tags:                     r.Tags,
			Invalidate:               r.Invalidate,
			WriteThrough:             r.WriteThrough,
			Version:                  r.Version,
			Downstream:               r.Downstream.CacheControl(),
			Languages:                r.Languages,
			MediaTypes:               r.MediaTypes,
			AllowCredentials:         r.AllowCredentials,
			Upstream:                 r.Upstream,
			DownstreamFields:         r.Edge.Fields(),
		}
		if r.Edge != nil {
			for _, name := range r.Edge.TagHeaders {
				p.TagFields = append(p.TagFields, http.CanonicalHeaderKey(name))
			}
		}
		for _, h := range r.Vary {
			p.Vary = append(p.Vary, http.CanonicalHeaderKey(h))
		}
		if p.Scope, err = policy.ParseScope(r.Scope); err != nil {
			return nil, fmt.Errorf("server: routes[%d]: %w", i, err)
		}
		if r.Params != nil {
			if p.Params, err = norm.CompileParams(*r.Params); err != nil {
				return nil, fmt.Errorf("server: routes[%d].params: %w", i, err)
			}
		}
		pols = append(pols, p)
	}
	// Behind trusted proxies, trusted_header.from is matched against the
	// client address they report (the gateway's ClientAddr), not against
	// the proxy itself.
	var built *gateway.Handler
	var authOpts []auth.Option
	if len(cfg.TrustedProxies) > 0 {
		authOpts = append(authOpts, auth.WithPeer(func(r *http.Request) string { return built.ClientAddr(r) }))
	}
	resolver, err := auth.New(cfg.Auth, authOpts...)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	table, err := policy.New(pols)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	g := &generation{cfg: cfg}
	pools, made, err := s.buildPools(cfg, prev)
	if err != nil {
		for _, p := range made {
			p.Close()
		}
		return nil, err
	}
	g.pools = pools
	if prev != nil && samePurgeTargets(prev.cfg, cfg) {
		g.fanout = prev.fanout
	} else {
		if g.fanout, err = fanout.New(fanout.Options{Targets: fanoutTargets(cfg), Logger: log}); err != nil {
			return nil, fmt.Errorf("server: purge_targets: %w", err)
		}
		if prev != nil {
			g.fanout.Start()
		}
	}
	if prev != nil {
		for _, p := range made {
			p.Start() // the first configuration's start with the server
		}
	}
	closeFanout := func() { // and the pools made here
		if prev == nil || g.fanout != prev.fanout {
			_ = g.fanout.Close(context.Background())
		}
		for _, p := range made {
			p.Close()
		}
	}
	accessLog := s.accessLogger(cfg)
	maxIdle := cfg.Origin.MaxIdleConns
	if maxIdle == 0 {
		maxIdle = -1
	}
	exts, err := s.graphqlExtensions(cfg)
	if err != nil {
		closeFanout()
		return nil, err
	}
	fan := g.fanout
	opts := gateway.Options{
		Extensions:               exts,
		L2:                       s.fleet.l2,
		L2Timeout:                s.fleet.timeout,
		L2Queue:                  s.fleet.queue,
		Bus:                      s.fleet.bus,
		Versions:                 s.fleet.versions,
		Lease:                    s.fleet.lease,
		Origin:                   origin,
		Upstreams:                transports(pools),
		OriginTimeout:            cfg.Origin.Timeout.D(),
		DialTimeout:              cfg.Origin.DialTimeout.D(),
		MaxIdleConns:             maxIdle,
		MaxConns:                 cfg.Origin.MaxConns,
		PreserveHost:             cfg.Origin.HostHeader == config.HostHeaderClient,
		Tier:                     s.memory,
		Policies:                 table,
		MaxObjectSize:            storableObjectSize(cfg),
		MaxFillBytes:             max(int64(cfg.Cache.Memory)/8, storableObjectSize(cfg)),
		HeuristicMax:             cfg.Cache.HeuristicMax.D(),
		CoalesceTimeout:          cfg.CoalesceTimeout(),
		HitForMissTTL:            orNegative(cfg.Cache.HitForMiss.D()),
		MaxOriginConcurrency:     cfg.Origin.MaxConcurrency,
		OriginQueue:              orNegative(cfg.Origin.Queue),
		OriginQueueTimeout:       cfg.Origin.QueueTimeout.D(),
		RefreshConcurrency:       cfg.Cache.RefreshConcurrency,
		RefreshBudget:            orNegative(cfg.Cache.RefreshBudget),
		Normalizer:               norm,
		Identifier:               authIdentifier{resolver},
		Compress:                 cfg.Cache.Compression,
		StripHeaders:             stripHeaders(cfg.Security.StripHeaders),
		AllowUnderscoreHeaders:   cfg.Security.AllowUnderscoreHeaders,
		IgnoreClientCacheControl: cfg.IgnoresClientCacheControl(nil),
		PassRanges:               cfg.Cache.RangeRequests == "pass",
		CacheName:                cfg.Cache.Name,
		TargetedCacheControl:     targetedFields(cfg),
		TrustedProxies:           cfg.TrustedProxyPrefixes(),
		KeyHost:                  keyHost(cfg, origin),
		HostAliases:              hostAliases(cfg),
		ClientBodyTimeout:        cfg.Security.ClientBodyTimeout.D(),
		TagIndex:                 s.tags,
		TagHeaders:               cfg.Tags.Headers,
		TagsDownstream:           cfg.Tags.Downstream,
		OnPurge: func(p gateway.Purge) {
			fan.Enqueue(fanout.Purge{ID: p.ID, Tags: p.Tags, URLs: p.URLs, Prefixes: p.Prefixes, Routes: p.Routes, All: p.All, Soft: p.Soft})
		},
		Tracker:         s.tracker,
		Observer:        tracing.Join(s.metrics, s.tracing.Observer()),
		AccessLog:       accessLog,
		AccessLogSample: float64(cfg.Log.AccessSample),
		Logger:          log,
	}
	if prev == nil {
		g.gw, err = gateway.New(opts)
	} else {
		g.gw, err = prev.gw.Reload(opts)
	}
	if err != nil {
		closeFanout()
		return nil, fmt.Errorf("server: %w", err)
	}
	built = g.gw
	g.admin = http.NotFoundHandler()
	if cfg.Admin.Listen != "" {
		gw := g.gw
		g.admin = admin.New(admin.Options{
			Token: cfg.Admin.Token,
			Ready: s.ready.Load,
			Stats: s.Stats,
			Purge: func(ctx context.Context, p gateway.Purge) (gateway.PurgeResult, error) {
				return s.cur.Load().gw.Purge(ctx, p)
			},
			Keys:     s.keys,
			Inspect:  func(r *http.Request) any { return gw.Inspect(r) },
			Routes:   s.routes,
			Reload:   func(ctx context.Context) (any, error) { return s.ReloadConfig() },
			Metrics:  promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}),
			UI:       ui.Handler(),
			Sessions: s.sessions,
		})
	}
	return g, nil
}

func patternsOf(cfg *config.Config) []string {
	patterns := make([]string, len(cfg.Routes))
	for i, r := range cfg.Routes {
		patterns[i] = r.Match
	}
	return patterns
}

// Gateway returns the caching handler of the configuration serving
// requests.
func (s *Server) Gateway() *gateway.Handler { return s.cur.Load().gw }

// Start binds the gateway (and admin) listeners and serves in the
// background. It returns the bound addresses (useful with port 0).
func (s *Server) Start() (proxyAddr, adminAddr string, err error) {
	cfg := s.cur.Load().cfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return "", "", fmt.Errorf("server: listen %s: %w", cfg.Listen, err)
	}
	// Each HTTP/1.x response leaves in one write(2) (docs/benchmarks.md,
	// "One write per response"); HTTP/2 and hijacked connections pass
	// through.
	ln = onewrite.Listen(ln)
	if cfg.TLS.CertFile != "" {
		if err := s.loadCert(cfg); err != nil {
			ln.Close()
			return "", "", err
		}
		// HTTP/2 is negotiated by ALPN; net/http serves h2 over TLS. The
		// certificate is read again on every reload.
		s.proxy.TLSConfig = &tls.Config{
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return s.cert.Load(), nil },
			NextProtos:     []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12,
		}
		ln = tls.NewListener(ln, s.proxy.TLSConfig)
	}
	// The process's memory follows cache.memory (DESIGN invariant 4):
	// entries are accounted honestly, and the collector runs before the
	// heap doubles (see applyMemoryLimit).
	_, s.restoreMemLimit = applyMemoryLimit(int64(cfg.Cache.Memory), s.log)
	s.cur.Load().fanout.Start()
	for _, p := range s.upstreamPools() {
		p.Start()
	}
	if cfg.Hotkeys.File != "" {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopHot, s.hotDone = cancel, make(chan struct{})
		go func() {
			defer close(s.hotDone)
			s.tracker.Run(ctx, cfg.Hotkeys.File, cfg.Hotkeys.Top, cfg.Hotkeys.Interval.D(), s.log)
		}()
	}
	if s.fleet.client != nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.stopFleetHot, s.fleetHotDone = cancel, make(chan struct{})
		go func() {
			defer close(s.fleetHotDone)
			s.fleet.publishHot(ctx, s.tracker, cfg.Hotkeys.Top, cfg.Hotkeys.Interval.D(), s.log)
		}()
	}
	if s.events != nil {
		s.events.Start() // purges from the application's change streams
	}
	s.serve(s.proxy, ln)
	proxyAddr = ln.Addr().String()
	if s.admin != nil {
		aln, err := net.Listen("tcp", cfg.Admin.Listen)
		if err != nil {
			_ = s.Shutdown(context.Background())
			return "", "", fmt.Errorf("server: admin listen %s: %w", cfg.Admin.Listen, err)
		}
		s.serve(s.admin, aln)
		adminAddr = aln.Addr().String()
	}
	if !s.hold.Load() {
		s.ready.Store(true)
	}
	return proxyAddr, adminAddr, nil
}

func (s *Server) serve(srv *http.Server, ln net.Listener) {
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.served.Add(1)
	go func() {
		defer s.served.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- err
		}
	}()
}

// HoldReady makes Start leave /readyz not ready until MarkReady (for a
// warm-up before traffic).
func (s *Server) HoldReady() { s.hold.Store(true) }

// Unready makes /readyz report 503 while the server goes on serving: a
// load balancer deregisters the node before it stops listening.
func (s *Server) Unready() { s.ready.Store(false) }

// MarkReady makes /readyz report ready.
func (s *Server) MarkReady() { s.ready.Store(true) }

// Err delivers a listener's fatal error.
func (s *Server) Err() <-chan error { return s.errs }

// Shutdown stops accepting, waits for in-flight requests until ctx ends,
// then releases the cache. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	// A reload under way finishes first (its configuration is then one
	// this shutdown closes); later ones see closed and refuse.
	s.reloadMu.Lock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.reloadMu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.reloadMu.Unlock()
	s.ready.Store(false)
	var errs []error
	if err := s.proxy.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if s.admin != nil {
		if err := s.admin.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.served.Wait()
	// Configurations still finishing requests (a hijacked or endless one)
	// close now; the one serving closes last, closing the cache.
	close(s.stopping)
	s.retiring.Wait()
	if s.accessFile != nil {
		defer s.accessFile.Close() // after the last request's line
	}
	if s.restoreMemLimit != nil {
		s.restoreMemLimit()
	}
	if s.stopHot != nil {
		s.stopHot() // Run writes the hot-key file once more as it stops
		<-s.hotDone
	}
	if s.stopFleetHot != nil {
		s.stopFleetHot()
		<-s.fleetHotDone
	}
	if s.events != nil {
		s.events.Close() // each source commits what it applied
	}
	// Purges accepted before shutdown still reach the other layers.
	g := s.cur.Load()
	gwErr := g.gw.Close()
	for _, p := range g.pools {
		p.p.Close()
	}
	if err := g.fanout.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("purge fan-out: %w", err))
	}
	errs = append(errs, s.tracing.Shutdown(ctx), gwErr, s.memory.Close())
	s.fleet.close() // after the gateway sent its queued L2 writes
	return errors.Join(errs...)
}

// Stats is the value served at the admin /api/stats endpoint.
func (s *Server) Stats() any {
	gw := s.cur.Load().gw
	g := gw.Stats()
	m := s.memory.Stats()
	total, routes := s.metrics.Snapshot()
	refreshes := map[string]int64{}
	for i, name := range gateway.CauseNames {
		refreshes[name] = g.Refreshes[i].Load()
	}
	out := map[string]any{
		"uptime_seconds": s.metrics.Uptime().Seconds(),
		"totals":         total,
		"routes":         routes,
		"cache": map[string]any{
			"entries":     m.Entries,
			"bytes":       m.Bytes,
			"max_bytes":   m.MaxBytes,
			"evictions":   m.Evictions,
			"expirations": m.Expirations,
		},
		"refreshes":      refreshes,
		"purges":         g.Purges.Load(),
		"invalidations":  g.Invalidations.Load(),
		"collapsed":      g.Collapsed.Load(),
		"stored":         g.Stored.Load(),
		"shed":           g.Shed.Load(),
		"origin_errors":  g.OriginErrors.Load(),
		"write_throughs": g.WriteThroughs.Load(),
	}
	if s.events != nil {
		out["events"] = s.events.Stats()
	}
	if u := s.upstreamStats(); u != nil {
		out["upstreams"] = u
	}
	if f := s.fleet.stats(gw); f != nil {
		out["fleet"] = f
	}
	return out
}

// keys answers /api/keys: the hottest tracked keys and what is stored.
func (s *Server) keys(r *http.Request, route string, limit int) any {
	top := s.tracker.Top(max(limit*4, 100))
	hot := make([]gateway.HotKey, len(top))
	for i, t := range top {
		hot[i] = gateway.HotKey{Key: t.Key, URL: t.URL, Rate: t.Rate}
	}
	return map[string]any{"keys": s.cur.Load().gw.Describe(r, hot, route, limit)}
}

// routes answers /api/routes: every route with its effective settings.
func (s *Server) routes() any {
	type routeInfo struct {
		Pattern              string   `json:"pattern"`
		Line                 int      `json:"line,omitempty"`
		Bypass               bool     `json:"bypass"`
		Volatility           string   `json:"volatility,omitempty"`
		TTLSeconds           float64  `json:"ttl_seconds"`
		OverrideOrigin       bool     `json:"override_origin"`
		StaleWhileRevalidate float64  `json:"stale_while_revalidate_seconds"`
		StaleIfError         float64  `json:"stale_if_error_seconds"`
		TTLJitter            float64  `json:"ttl_jitter"`
		EarlyRefresh         float64  `json:"early_refresh"`
		RefreshAhead         bool     `json:"refresh_ahead"`
		Coalesce             bool     `json:"coalesce"`
		Tags                 []string `json:"tags,omitempty"`
		Invalidate           []string `json:"invalidate,omitempty"`
		Version              uint64   `json:"version"`
		Downstream           string   `json:"downstream,omitempty"`
	}
	out := []routeInfo{}
	cfg := s.cur.Load().cfg
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		v := cfg.Effective(r)
		out = append(out, routeInfo{
			Pattern: r.Match, Line: r.Line, Bypass: !r.Cached(), Volatility: r.Volatility,
			TTLSeconds: v.TTL.D().Seconds(), OverrideOrigin: r.OverrideOrigin,
			StaleWhileRevalidate: v.StaleWhileRevalidate.D().Seconds(), StaleIfError: v.StaleIfError.D().Seconds(),
			TTLJitter: float64(v.TTLJitter), EarlyRefresh: v.EarlyRefresh, RefreshAhead: v.RefreshAhead, Coalesce: v.Coalesce,
			Tags: r.Tags, Invalidate: r.Invalidate, Version: r.Version, Downstream: r.Downstream.CacheControl(),
		})
	}
	return map[string]any{"routes": out}
}

// orNegative maps a config zero ("off") to the negative value gateway
// options use for off (their zero means "default").
func orNegative[T int | float64 | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// authIdentifier adapts auth.Resolver to the gateway: the tier and the
// keyed hash of the verified subject, never the credential or subject.
type authIdentifier struct{ r *auth.Resolver }

func (a authIdentifier) HasCredentials(req *http.Request) bool { return a.r.HasCredentials(req) }

func (a authIdentifier) Identify(req *http.Request) gateway.Identity {
	id := a.r.Resolve(req)
	return gateway.Identity{
		Tier:         id.Tier,
		User:         a.r.UserKey(id),
		Credentialed: id.Credentialed,
		Valid:        id.Valid,
		Reason:       id.Reason,
	}
}

// stripHeaders is the gateway's StripHeaders for the config's list: the
// config spells its default out, so an empty list means none (the gateway
// reads nil as its default).
func stripHeaders(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

// storableObjectSize is the largest body the gateway tries to store: the
// configured max_object_size, but no more than the L1 tier accepts (an
// eighth of cache.memory, less the headroom for headers and bookkeeping
// given to the tier below), so that Cache-Status never says stored for a
// body the tier then refuses.
func storableObjectSize(cfg *config.Config) int64 {
	return min(int64(cfg.Cache.MaxObjectSize), int64(cfg.Cache.Memory)/8-objectHeadroom)
}

// objectHeadroom is what an entry may take beyond its body in the L1 tier's
// object limit (headers, bookkeeping).
const objectHeadroom = 64 << 10

// keyHost is gateway.Options.KeyHost for cfg: the origin's host when keys
// hold it (keys.host: origin).
func keyHost(cfg *config.Config, origin *url.URL) string {
	if cfg.Keys.Host != "origin" {
		return ""
	}
	return cachekey.Host(origin.Scheme, origin.Host)
}

// hostAliases is gateway.Options.HostAliases for cfg: each alias, as keys
// spell a host for either scheme, to its canonical host.
func hostAliases(cfg *config.Config) map[string]string {
	if len(cfg.Keys.HostAliases) == 0 {
		return nil
	}
	out := map[string]string{}
	for canon, aliases := range cfg.Keys.HostAliases {
		for _, a := range aliases {
			for _, scheme := range [...]string{"http", "https"} {
				out[cachekey.Host(scheme, a)] = cachekey.Host(scheme, canon)
			}
		}
	}
	return out
}

// accessLogger returns the access logger cfg asks for (nil: none), on the
// access-log file the server opened at its start, if any.
func (s *Server) accessLogger(cfg *config.Config) *slog.Logger {
	l := cfg.Log
	if s.accessFile != nil {
		return accesslog.New(s.accessFile, l.AccessFormat)
	}
	if !l.Access && !s.log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	if l.AccessFormat == accesslog.Combined {
		return accesslog.New(os.Stderr, accesslog.Combined)
	}
	return s.log // in the application log, in its format
}

// ReopenLogs reopens the access log file (SIGUSR1, after logrotate moved
// it); without one it does nothing.
func (s *Server) ReopenLogs() error {
	if s.accessFile == nil {
		return nil
	}
	return s.accessFile.Reopen()
}

// targetedFields is gateway.Options.TargetedCacheControl for cfg: nil (the
// gateway's default) unless the config names its own list.
func targetedFields(cfg *config.Config) []string {
	if cfg.Cache.TargetedCacheControl == nil {
		return nil
	}
	return append([]string{}, *cfg.Cache.TargetedCacheControl...)
}
