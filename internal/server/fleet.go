package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/config"
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
}

func newFleet(cfg *config.Config, log *slog.Logger) (*fleet, error) {
	if cfg.Cache.Redis == nil {
		return &fleet{}, nil
	}
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
		PoolSize: r.PoolSize, PipelineMultiplex: r.Pipeline,
	})
	if err != nil {
		return nil, fmt.Errorf("server: cache.redis: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.DialTimeout.D()+time.Second)
	defer cancel()
	if err := c.Ping(ctx); err != nil {
		log.Warn("Redis does not answer yet; serving from memory and the origin until it does", "err", err)
	}
	bus := c.Bus(redisl2.BusOptions{Retention: r.Bus.Retention, Grace: r.Bus.Grace.D(), Logger: log})
	return &fleet{
		client: c, l2: c.Tier(), bus: bus, versions: c.Versions(), lease: c.Lease(),
		timeout: r.Timeout.D(), queue: r.WriteQueue, busStats: bus,
	}, nil
}

func (f *fleet) close() {
	if f.client != nil {
		f.client.Close()
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
