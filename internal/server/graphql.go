package server

import (
	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/graphql"
	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/metrics"
	"github.com/moatproxy/moat/policy"
)

// graphqlExtensions makes the GraphQL endpoints of cfg's routes, with the
// schema and safelist config.Validate loaded.
func (s *Server) graphqlExtensions(cfg *config.Config) (map[string]gateway.NewExtension, error) {
	var exts map[string]gateway.NewExtension
	log := s.log
	for _, r := range cfg.Routes {
		g := r.GraphQL
		if g == nil {
			continue
		}
		if exts == nil {
			exts = map[string]gateway.NewExtension{}
		}
		if s.gqlObs == nil {
			s.gqlObs = metrics.NewGraphQL(s.reg) // registered once, kept across reloads
		}
		o := graphql.Options{
			Schema:            g.LoadedSchema(),
			DefaultMaxAge:     r.TTL.D(),
			Invalidate:        g.Invalidate,
			PersistedQueries:  g.PersistedQueries == nil || *g.PersistedQueries,
			PersistedQueryTTL: g.PersistedQueryTTL.D(),
			Safelist:          g.LoadedSafelist(),
			MaxBody:           int64(g.MaxBody),
			Observer:          s.gqlObs,
			Logger:            log,
		}
		if g.PrivateScope == "tier" {
			o.PrivateScope = policy.ScopeTier
		}
		if len(g.Keys) > 0 {
			o.Keys = map[string][]string{}
			for t, fs := range g.Keys {
				o.Keys[t] = fs
			}
		}
		if len(g.Hints) > 0 {
			o.Hints = map[string]graphql.Hint{}
			for name, h := range g.Hints {
				x := graphql.Hint{Private: h.Scope == "private", InheritMaxAge: h.InheritMaxAge}
				if h.MaxAge != nil {
					d := h.MaxAge.D()
					x.MaxAge = &d
				}
				o.Hints[name] = x
			}
		}
		exts[r.Match] = graphql.New(o)
	}
	return exts, nil
}
