package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/fanout"
	"github.com/moatproxy/moat/upstream"
)

// generation is what one configuration built (see Server.build) and the
// requests it is answering.
type generation struct {
	cfg    *config.Config
	gw     *gateway.Handler
	fanout *fanout.Fanout
	pools  map[string]*pool // upstreams by name
	admin  http.Handler

	inflight inflight
}

// inflight counts the requests a configuration is answering, in shards
// of their own cache lines: one shared counter, written twice by every
// request from every core, costs the hit path more than the rest of the
// front does.
type inflight struct {
	shards [16]struct {
		n atomic.Int64
		_ [56]byte
	}
}

// shard picks r's counter: requests made on different cores come from
// different allocation spans.
func (c *inflight) shard(r *http.Request) *atomic.Int64 {
	return &c.shards[(uintptr(unsafe.Pointer(r))>>10)%uintptr(len(c.shards))].n
}

// load is the count (exact once no request starts: see retire).
func (c *inflight) load() int64 {
	var n int64
	for i := range c.shards {
		n += c.shards[i].n.Load()
	}
	return n
}

// serveProxy hands a request to the configuration serving, which answers
// it to the end even if a reload replaces it meanwhile.
func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	for {
		g := s.cur.Load()
		n := g.inflight.shard(r)
		n.Add(1)
		// Counted before the check: a configuration replaced after this
		// load waits for the request; one replaced before, it never serves.
		if s.cur.Load() == g {
			g.serve(w, r, n)
			return
		}
		n.Add(-1)
	}
}

func (g *generation) serve(w http.ResponseWriter, r *http.Request, n *atomic.Int64) {
	defer n.Add(-1)
	g.gw.ServeHTTP(w, r)
}

// Config returns the configuration serving requests.
func (s *Server) Config() *config.Config { return s.cur.Load().cfg }

// SetConfigSource sets how ReloadConfig reads the configuration again
// (moat serve: the config file it was started with).
func (s *Server) SetConfigSource(load func() (*config.Config, error)) { s.source = load }

// ReloadResult says what a reload did.
type ReloadResult struct {
	Routes int `json:"routes"`
	// RestartNeeded names the settings that changed but take effect only
	// when the process restarts (listeners, the cache's size, Redis...).
	RestartNeeded []string `json:"restart_needed,omitempty"`
	Warnings      []string `json:"warnings,omitempty"`
}

// ReloadConfig reads the configuration from its source and applies it (see
// Reload). A configuration that does not load is refused with its problems
// (file:line: key: message), and the one serving goes on.
func (s *Server) ReloadConfig() (ReloadResult, error) {
	if s.source == nil {
		return ReloadResult{}, errors.New("server: no configuration file to reload from")
	}
	cfg, err := s.source()
	if err != nil {
		return ReloadResult{}, s.refused(err)
	}
	return s.Reload(cfg)
}

// Reload applies cfg, which must have passed validation, without dropping
// a request or the cache: requests that arrive from now on get the new
// configuration, those in flight finish on the old one, which then closes.
// Entries of routes whose policy did not change stay; a purge made during
// the changeover reaches both. JWKS, API-key and TLS certificate files are
// read again. Settings bound to the process (listeners, the cache's
// size, Redis, tracing, hot-key recording) are reported in RestartNeeded
// and keep their old values.
func (s *Server) Reload(cfg *config.Config) (ReloadResult, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ReloadResult{}, errors.New("server: reload after shutdown")
	}
	old := s.cur.Load()
	res := ReloadResult{Routes: len(cfg.Routes), RestartNeeded: restartNeeded(old.cfg, cfg)}
	warnings := cfg.Warnings()
	for _, w := range warnings {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s:%d: %s: %s", w.Source, w.Line, w.Key, w.Msg))
	}
	if cfg.TLS.CertFile != "" && s.proxy.TLSConfig != nil {
		if err := s.loadCert(cfg); err != nil {
			return ReloadResult{}, s.refused(err)
		}
	}
	g, err := s.build(cfg, old)
	if err != nil {
		return ReloadResult{}, s.refused(err)
	}
	s.metrics.SetRoutes(patternsOf(cfg))
	s.mu.Lock()
	s.gens = append(s.gens, g)
	s.mu.Unlock()
	s.cur.Store(g)
	s.retiring.Add(1)
	go s.retire(old)
	s.reloads.WithLabelValues("ok").Inc()
	s.reloadedAt.SetToCurrentTime()
	s.log.Info("config reloaded", "routes", res.Routes, "origin", cfg.Origin.URL, "restart_needed", res.RestartNeeded)
	for _, w := range warnings {
		s.log.Warn("config: "+w.Msg, "file", w.Source, "line", w.Line, "key", w.Key)
	}
	return res, nil
}

// refused counts and logs a reload refused for err, and returns err.
func (s *Server) refused(err error) error {
	s.reloads.WithLabelValues("error").Inc()
	s.log.Error("config reload refused; the previous configuration goes on serving", "err", err)
	return err
}

// retire closes old, replaced by a newer configuration, once its last
// request is answered (or the server shuts down): its gateway, and the
// upstream pools and purge fan-out no live configuration shares.
func (s *Server) retire(old *generation) {
	defer s.retiring.Done()
	// Every request old serves was counted before old stopped being
	// current; one counted since then only passes through (it finds old
	// replaced and goes to the newer). So a count of 0 means done.
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	slow := time.NewTimer(30 * time.Second)
	defer slow.Stop()
	for old.inflight.load() > 0 {
		select {
		case <-poll.C:
		case <-s.stopping:
			goto closed
		case <-slow.C:
			s.log.Warn("the previous configuration is still answering requests", "requests", old.inflight.load())
		}
	}
closed:
	if err := old.gw.Close(); err != nil {
		s.log.Warn("closing the previous configuration", "err", err)
	}
	pools, fan := s.release(old)
	for _, p := range pools {
		p.Close()
	}
	if fan != nil {
		// Its purges, accepted before, still reach the other layers.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := fan.Close(ctx); err != nil {
			s.log.Warn("purge fan-out of the previous configuration", "err", err)
		}
		cancel()
	}
}

// release removes old from the live configurations and returns its pools
// and fan-out that none of the others uses.
func (s *Server) release(old *generation) (pools []*upstream.Pool, fan *fanout.Fanout) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gens = slices.DeleteFunc(s.gens, func(g *generation) bool { return g == old })
	used := func(match func(*generation) bool) bool { return slices.ContainsFunc(s.gens, match) }
	for name, p := range old.pools {
		if !used(func(g *generation) bool { return g.pools[name] == p }) {
			pools = append(pools, p.p)
		}
	}
	if !used(func(g *generation) bool { return g.fanout == old.fanout }) {
		fan = old.fanout
	}
	return pools, fan
}

// loadCert reads cfg's TLS certificate and key into the listener.
func (s *Server) loadCert(cfg *config.Config) error {
	cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return fmt.Errorf("server: tls: %w", err)
	}
	s.cert.Store(&cert)
	return nil
}

// restartNeeded names the settings of next that differ from prev's and
// that a reload cannot apply.
func restartNeeded(prev, next *config.Config) []string {
	var out []string
	check := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	check("listen", prev.Listen, next.Listen)
	check("admin.listen", prev.Admin.Listen, next.Admin.Listen)
	check("tls", prev.TLS.CertFile == "", next.TLS.CertFile == "")
	check("cache.memory", prev.Cache.Memory, next.Cache.Memory)
	check("cache.max_object_size", prev.Cache.MaxObjectSize, next.Cache.MaxObjectSize)
	check("cache.redis", prev.Cache.Redis, next.Cache.Redis)
	check("cache.memcached", prev.Cache.Memcached, next.Cache.Memcached)
	check("cache.nats_bus", prev.Cache.NATSBus, next.Cache.NATSBus)
	check("events", prev.Events, next.Events)
	check("tags.max_index", prev.Tags.MaxIndex, next.Tags.MaxIndex)
	check("hotkeys", prev.Hotkeys, next.Hotkeys)
	check("tracing", prev.Tracing, next.Tracing)
	check("log.level", prev.Log.Level, next.Log.Level)
	check("log.format", prev.Log.Format, next.Log.Format)
	check("log.access_file", prev.Log.AccessFile, next.Log.AccessFile)
	check("security.max_header_bytes", prev.Security.MaxHeaderBytes, next.Security.MaxHeaderBytes)
	return out
}
