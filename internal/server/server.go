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
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/admin"
	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/fanout"
	"github.com/moatproxy/moat/internal/policy"
)

// Server is a configured moat. Start binds its listeners; Shutdown drains
// and stops them.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	memory  *cache.Memory
	gateway *gateway.Handler
	fanout  *fanout.Fanout
	proxy   *http.Server
	admin   *http.Server
	ready   atomic.Bool

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
	origin, err := url.Parse(cfg.Origin.URL)
	if err != nil || origin.Host == "" {
		return nil, fmt.Errorf("server: origin.url %q: not an absolute URL", cfg.Origin.URL)
	}
	pols := make([]policy.Policy, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		r := &cfg.Routes[i]
		v := cfg.Effective(r)
		pols = append(pols, policy.Policy{
			Pattern:              r.Match,
			TTL:                  v.TTL.D(),
			OverrideOrigin:       r.OverrideOrigin,
			Bypass:               !r.Cached(),
			AllowSetCookie:       r.AllowSetCookie,
			StaleWhileRevalidate: v.StaleWhileRevalidate.D(),
			StaleIfError:         v.StaleIfError.D(),
			TTLJitter:            float64(v.TTLJitter),
			EarlyRefresh:         v.EarlyRefresh,
			RefreshAhead:         v.RefreshAhead,
			NoCoalesce:           !v.Coalesce,
			MaxOriginConcurrency: r.MaxOriginConcurrency,
			Tags:                 r.Tags,
			Invalidate:           r.Invalidate,
			Version:              r.Version,
			Downstream:           r.Downstream.CacheControl(),
		})
	}
	table, err := policy.New(pols)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	tags := cache.NewTagIndex(cfg.Tags.MaxIndex)
	mem, err := cache.NewMemory(cache.MemoryOptions{
		MaxBytes:      int64(cfg.Cache.Memory),
		MaxObjectSize: int64(cfg.Cache.MaxObjectSize) + 64<<10, // headroom for headers and bookkeeping
		OnRemove:      func(k string, e *cache.Entry) { tags.Remove(k, e) },
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	var targets []fanout.Target
	for _, t := range cfg.PurgeTargets {
		targets = append(targets, fanout.Target{URL: t.URL, Headers: t.Headers, Timeout: t.Timeout.D()})
	}
	fan, err := fanout.New(fanout.Options{Targets: targets, Logger: log})
	if err != nil {
		mem.Close()
		return nil, fmt.Errorf("server: purge_targets: %w", err)
	}
	maxIdle := cfg.Origin.MaxIdleConns
	if maxIdle == 0 {
		maxIdle = -1
	}
	gw, err := gateway.New(gateway.Options{
		Origin:               origin,
		OriginTimeout:        cfg.Origin.Timeout.D(),
		DialTimeout:          cfg.Origin.DialTimeout.D(),
		MaxIdleConns:         maxIdle,
		MaxConns:             cfg.Origin.MaxConns,
		PreserveHost:         cfg.Origin.HostHeader == config.HostHeaderClient,
		Tier:                 mem,
		Policies:             table,
		MaxObjectSize:        int64(cfg.Cache.MaxObjectSize),
		HeuristicMax:         cfg.Cache.HeuristicMax.D(),
		CoalesceTimeout:      cfg.CoalesceTimeout(),
		HitForMissTTL:        orNegative(cfg.Cache.HitForMiss.D()),
		MaxOriginConcurrency: cfg.Origin.MaxConcurrency,
		OriginQueue:          orNegativeInt(cfg.Origin.Queue),
		OriginQueueTimeout:   cfg.Origin.QueueTimeout.D(),
		RefreshConcurrency:   cfg.Cache.RefreshConcurrency,
		RefreshBudget:        orNegativeF(cfg.Cache.RefreshBudget),
		Logger:               log,
	})
	if err != nil {
		mem.Close()
		return nil, fmt.Errorf("server: %w", err)
	}
	s := &Server{cfg: cfg, log: log, memory: mem, gateway: gw, fanout: fan, errs: make(chan error, 2)}
	var handler http.Handler = gw
	if log.Enabled(context.Background(), slog.LevelDebug) {
		handler = accessLog(gw, log)
	}
	s.proxy = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if cfg.Admin.Listen != "" {
		s.admin = &http.Server{
			Handler: admin.New(admin.Options{
				Token: cfg.Admin.Token,
				Ready: s.ready.Load,
				Stats: s.Stats,
				Purge: gw.Purge,
			}),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
	}
	return s, nil
}

// Gateway returns the caching handler.
func (s *Server) Gateway() *gateway.Handler { return s.gateway }

// Start binds the gateway (and admin) listeners and serves in the
// background. It returns the bound addresses (useful with port 0).
func (s *Server) Start() (proxyAddr, adminAddr string, err error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return "", "", fmt.Errorf("server: listen %s: %w", s.cfg.Listen, err)
	}
	if s.cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			ln.Close()
			return "", "", fmt.Errorf("server: tls: %w", err)
		}
		// HTTP/2 is negotiated by ALPN; net/http serves h2 over TLS.
		s.proxy.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, s.proxy.TLSConfig)
	}
	s.fanout.Start()
	s.serve(s.proxy, ln)
	proxyAddr = ln.Addr().String()
	if s.admin != nil {
		aln, err := net.Listen("tcp", s.cfg.Admin.Listen)
		if err != nil {
			_ = s.Shutdown(context.Background())
			return "", "", fmt.Errorf("server: admin listen %s: %w", s.cfg.Admin.Listen, err)
		}
		s.serve(s.admin, aln)
		adminAddr = aln.Addr().String()
	}
	s.ready.Store(true)
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

// Err delivers a listener's fatal error.
func (s *Server) Err() <-chan error { return s.errs }

// Shutdown stops accepting, waits for in-flight requests until ctx ends,
// then releases the cache. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
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
	// Purges accepted before shutdown still reach the other layers.
	if err := s.fanout.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("purge fan-out: %w", err))
	}
	errs = append(errs, s.gateway.Close(), s.memory.Close())
	return errors.Join(errs...)
}

// Stats is the value served at the admin /api/stats endpoint.
func (s *Server) Stats() any {
	g := s.gateway.Stats()
	m := s.memory.Stats()
	req := g.Requests.Load()
	hits := g.Hits.Load()
	ratio := 0.0
	if req > 0 {
		ratio = float64(hits) / float64(req)
	}
	return map[string]any{
		"requests":        req,
		"hits":            hits,
		"misses":          g.Misses.Load(),
		"revalidated":     g.Revalidated.Load(),
		"bypass":          g.Bypass.Load(),
		"collapsed":       g.Collapsed.Load(),
		"stored":          g.Stored.Load(),
		"origin_requests": g.OriginRequests.Load(),
		"origin_errors":   g.OriginErrors.Load(),
		"invalidations":   g.Invalidations.Load(),
		"purges":          g.Purges.Load(),
		"stale":           g.Stale.Load(),
		"shed":            g.Shed.Load(),
		"hit_ratio":       ratio,
		"memory": map[string]any{
			"entries":     m.Entries,
			"bytes":       m.Bytes,
			"max_bytes":   m.MaxBytes,
			"evictions":   m.Evictions,
			"expirations": m.Expirations,
		},
	}
}

// orNegative maps a config zero ("off") to the negative value gateway
// options use for off (their zero means "default").
func orNegative(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func orNegativeF(f float64) float64 {
	if f == 0 {
		return -1
	}
	return f
}

func orNegativeInt(n int) int {
	if n == 0 {
		return -1
	}
	return n
}
