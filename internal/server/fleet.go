package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/hotkeys"
	"github.com/moatproxy/moat/memcachel2"
	"github.com/moatproxy/moat/natsbus"
	"github.com/moatproxy/moat/redisl2"
)

// fleet is what a node shares with the others through Redis (cache.redis):
// the L2 tier, the purge bus, the namespace versions and the fill lease.
// Without a redis section it is empty and the node runs alone.
type fleet struct {
	client   *redisl2.Client
	l2       cache.Tier
	bus      gateway.Bus
	versions gateway.Versions
	lease    gateway.Lease
	timeout  time.Duration
	queue    int
	busStats *redisl2.Bus
	mc       *memcachel2.Tier // cache.memcached: the L2 instead of Redis's
	natsBus  *natsbus.Bus     // cache.nats_bus
}

// newFleet makes the node's fleet from cache.redis, cache.memcached and
// cache.nats_bus: Memcached, when set, is the L2 (Redis then keeps the
// bus, versions and leases); the bus is Redis's or NATS's.
func newFleet(cfg *config.Config, log *slog.Logger, observe func(string, time.Duration, error)) (f *fleet, err error) {
	f = &fleet{}
	defer func() {
		if err != nil {
			f.close()
		}
	}()
	if m := cfg.Cache.Memcached; m != nil {
		maxObject := int(m.MaxObjectSize)
		if maxObject == 0 {
			maxObject = min(int(cfg.Cache.MaxObjectSize), 1<<20-512)
		}
		if f.mc, err = memcachel2.New(memcachel2.Options{Servers: m.Servers, Timeout: cmp.Or(m.Timeout, config.DefaultMemcachedTimeout).D(),
			KeyPrefix: m.KeyPrefix, MaxObjectSize: maxObject, CompressAbove: int(m.CompressAbove)}); err != nil {
			return nil, fmt.Errorf("server: cache.memcached: %w", err)
		}
		f.l2, f.timeout, f.queue = f.mc, cmp.Or(m.Timeout, config.DefaultMemcachedTimeout).D(), cmp.Or(m.WriteQueue, config.DefaultRedisWriteQueue)
	}
	if nb := cfg.Cache.NATSBus; nb != nil {
		if f.natsBus, err = natsbus.New(natsbus.Options{URL: nb.URL, Subject: nb.Subject, Token: nb.Token, Username: nb.Username,
			Password: nb.Password, Grace: nb.Grace.D(), Logger: log}); err != nil {
			return nil, fmt.Errorf("server: cache.nats_bus: %w", err)
		}
		f.bus = f.natsBus
	}
	if cfg.Cache.Redis == nil {
		return f, nil
	}
	r := cfg.Cache.Redis.WithDefaults(cfg.Cache.MaxObjectSize)
	c, err := openRedis(cfg, observe)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.DialTimeout.D()+time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		log.Warn("Redis does not answer yet; serving from memory and the origin until it does", "err", err)
	}
	bus := c.Bus(redisl2.BusOptions{Retention: r.Bus.Retention, Grace: r.Bus.Grace.D(), Logger: log})
	f.client, f.bus, f.versions, f.lease, f.busStats = c, bus, c.Versions(), c.Lease(), bus
	if f.mc == nil {
		f.l2, f.timeout, f.queue = c.Tier(), r.Timeout.D(), r.WriteQueue
	}
	return f, nil
}

// OpenRedis returns a client of the config's cache.redis (which must be
// set), as a node uses it.
func OpenRedis(cfg *config.Config) (*redisl2.Client, error) { return openRedis(cfg, nil) }

func openRedis(cfg *config.Config, observe func(string, time.Duration, error)) (*redisl2.Client, error) {
	r := cfg.Cache.Redis.WithDefaults(cfg.Cache.MaxObjectSize)
	var tlsCfg *tls.Config
	if r.TLS.Enabled {
		var err error
		if tlsCfg, err = redisTLS(r.TLS); err != nil {
			return nil, fmt.Errorf("server: cache.redis.tls: %w", err)
		}
	}
	c, err := redisl2.New(redisl2.Options{
		Addrs: r.Addrs, Mode: r.Mode, MasterName: r.MasterName,
		Username: r.Username, Password: r.Password, TLS: tlsCfg, DB: r.DB,
		DialTimeout: r.DialTimeout.D(), KeyPrefix: r.KeyPrefix,
		MaxObjectSize: int(r.MaxObjectSize), CompressAbove: int(r.CompressAbove),
		PoolSize: r.PoolSize, PipelineMultiplex: r.Pipeline, Observe: observe,
	})
	if err != nil {
		return nil, fmt.Errorf("server: cache.redis: %w", err)
	}
	return c, nil
}

func (f *fleet) close() {
	if f.client != nil {
		f.client.Close()
	}
	if f.mc != nil {
		f.mc.Close()
	}
	if f.natsBus != nil {
		f.natsBus.Close()
	}
}

func redisTLS(t config.RedisTLS) (*tls.Config, error) {
	c := &tls.Config{ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// publishHot adds this node's hottest URLs to the fleet's hot set every
// interval, until ctx ends.
func (f *fleet) publishHot(ctx context.Context, t *hotkeys.Tracker, top int, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		interval = time.Minute
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		hots := t.Top(top)
		urls, rates := make([]string, 0, len(hots)), make([]float64, 0, len(hots))
		for _, h := range hots {
			if u := absoluteURL(h.Key); u != "" {
				urls, rates = append(urls, u), append(rates, h.Rate)
			}
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := f.client.PublishHot(cctx, urls, rates); err != nil {
			log.Debug("hot set not published to Redis", "err", err)
		}
		cancel()
	}
}

// FleetHot returns up to n absolute URLs of the fleet's hot set
// (cache.redis), hottest first; nil without Redis.
func (s *Server) FleetHot(ctx context.Context, n int) ([]string, error) {
	if s.fleet.client == nil {
		return nil, nil
	}
	return s.fleet.client.Hot(ctx, n)
}

// absoluteURL is the URL a key was requested as, "scheme://host/path?query"
// (a key is "METHOD " + that, optionally followed by a NUL and what tells
// scopes and variants apart), or "" for a key that is not a GET's.
func absoluteURL(key string) string {
	rest, ok := strings.CutPrefix(key, "GET ")
	if !ok {
		return ""
	}
	if i := strings.IndexByte(rest, 0); i >= 0 {
		rest = rest[:i]
	}
	return rest
}

// stats is the "fleet" part of /api/stats: L2, leases, the bus and the
// nodes heard on it; nil without Redis.
func (f *fleet) stats(g *gateway.Handler) map[string]any {
	if f.client == nil && f.mc == nil && f.natsBus == nil {
		return nil
	}
	out := map[string]any{}
	if f.mc != nil {
		out["l2_tier"] = "memcached"
	} else if f.client != nil {
		out["l2_tier"] = "redis"
	}
	if f.natsBus != nil {
		b := f.natsBus.Stats()
		out["nats_bus"] = map[string]any{"published": b.Published, "received": b.Received, "dropped": b.Dropped,
			"malformed": b.Malformed, "lost": b.Lost, "gaps": b.Gaps, "duplicates": b.Duplicates, "senders": b.Senders,
			"connected": b.Connected}
	}
	if l, ok := g.L2Stats(); ok {
		out["l2"] = map[string]any{
			"hits": l.Hits, "misses": l.Misses, "refused": l.Refused, "errors": l.Errors,
			"written": l.Written, "dropped": l.Dropped, "purge_errors": l.PurgeErrors, "breaker_open": l.Open,
		}
	}
	if f.client == nil {
		return out
	}
	out["redis_connected"] = f.client.Connected()
	if l, ok := g.LeaseStats(); ok {
		out["lease"] = map[string]any{"acquired": l.Acquired, "contended": l.Contended, "waited": l.Waited, "errors": l.Errors}
	}
	b := f.busStats
	bus := map[string]any{
		"published": b.Published.Load(), "delivered": b.Delivered.Load(), "dropped": b.Dropped.Load(),
		"gaps": b.Gaps.Load(), "errors": b.Errors.Load(), "lost": g.Stats().Distrusts.Load(),
	}
	if last := b.LastSeen.Load(); last > 0 {
		bus["read_age_seconds"] = time.Since(time.Unix(0, last)).Seconds()
	}
	out["bus"] = bus
	nodes := []map[string]any{}
	for id, at := range b.Nodes() {
		nodes = append(nodes, map[string]any{"id": id, "last_heard_seconds": time.Since(at).Seconds()})
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i]["id"].(string) < nodes[j]["id"].(string) })
	out["nodes"] = nodes
	return out
}
