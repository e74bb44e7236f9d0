package server

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/upstream"
)

// pool is one upstream of a configuration, with the options it was made
// from (a reload keeps a pool whose options did not change, with its
// health state and counters).
type pool struct {
	p    *upstream.Pool
	opts upstream.Options
}

// buildPools makes cfg's upstreams, reusing prev's pools whose options are
// the same. started reports the pools it made (to Start, or Close on a
// failed build).
func (s *Server) buildPools(cfg *config.Config, prev *generation) (pools map[string]*pool, made []*upstream.Pool, err error) {
	pools = map[string]*pool{}
	for _, name := range cfg.UpstreamNames() {
		u := cfg.Upstreams[name]
		o := upstream.Options{
			Name:    name,
			Balance: upstream.Balance(u.Balance),
			Health: upstream.HealthCheck{
				Path: u.Health.Path, Interval: u.Health.Interval.D(), Timeout: u.Health.Timeout.D(),
				Rise: u.Health.Rise, Fall: u.Health.Fall, Status: u.Health.Status, Host: u.Health.Host,
			},
			Passive: upstream.Passive{
				MaxFails: u.Passive.MaxFails, FailTimeout: u.Passive.FailTimeout.D(), Statuses: u.Passive.Statuses,
			},
			DialTimeout:           cmpOr(u.DialTimeout, cfg.Origin.DialTimeout).D(),
			ResponseHeaderTimeout: cmpOr(u.Timeout, cfg.Origin.Timeout).D(),
			MaxIdleConnsPerHost:   u.MaxIdleConns,
			Retries:               u.Retries,
			Logger:                s.log.With("upstream", name),
		}
		for _, m := range u.AllMembers() {
			mu, perr := url.Parse(m.URL)
			if perr != nil {
				return nil, made, fmt.Errorf("server: upstreams.%s: %w", name, perr)
			}
			mu.Path = ""
			o.Members = append(o.Members, upstream.Member{URL: mu, Weight: m.Weight, Backup: m.Backup, MaxConns: m.MaxConns})
		}
		if prev != nil {
			if old := prev.pools[name]; old != nil && sameOptions(old.opts, o) {
				pools[name] = old
				continue
			}
		}
		p, perr := upstream.New(o)
		if perr != nil {
			return nil, made, fmt.Errorf("server: upstreams.%s: %w", name, perr)
		}
		made = append(made, p)
		pools[name] = &pool{p: p, opts: o}
	}
	return pools, made, nil
}

// sameOptions compares two pools' options but for their loggers.
func sameOptions(a, b upstream.Options) bool {
	a.Logger, b.Logger = nil, nil
	return reflect.DeepEqual(a, b)
}

func cmpOr(d, def config.Duration) config.Duration {
	if d > 0 {
		return d
	}
	return def
}

// transports is gateway.Options.Upstreams for pools.
func transports(pools map[string]*pool) map[string]http.RoundTripper {
	if len(pools) == 0 {
		return nil
	}
	out := make(map[string]http.RoundTripper, len(pools))
	for name, p := range pools {
		out[name] = p.p
	}
	return out
}

// upstreamPools returns the pools of the configuration serving, by name.
func (s *Server) upstreamPools() []*upstream.Pool {
	g := s.cur.Load()
	names := make([]string, 0, len(g.pools))
	for name := range g.pools {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make([]*upstream.Pool, len(names))
	for i, name := range names {
		out[i] = g.pools[name].p
	}
	return out
}

// upstreamStats is the "upstreams" part of /api/stats.
func (s *Server) upstreamStats() []map[string]any {
	var out []map[string]any
	for _, p := range s.upstreamPools() {
		members := []map[string]any{}
		for _, m := range p.Stats() {
			mm := map[string]any{
				"url": m.URL, "state": m.State, "backup": m.Backup, "weight": m.Weight, "in_flight": m.InFlight,
				"requests": m.Requests, "failures": m.Failures, "ejections": m.Ejections,
			}
			if m.LastError != "" {
				mm["last_error"] = m.LastError
			}
			members = append(members, mm)
		}
		out = append(out, map[string]any{"name": p.Name(), "healthy": p.Healthy(), "members": members})
	}
	return out
}
