package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/moatproxy/moat/gateway"
)

// GraphQL counts GraphQL operations (it implements graphql.Observer).
// Operation names are bounded by the graphql package (the first 200
// distinct names, then "other").
type GraphQL struct {
	ops    *prometheus.CounterVec
	fields *prometheus.CounterVec
	cached prometheus.Counter
	origin prometheus.Counter
}

// NewGraphQL registers moat_graphql_operations_total and
// moat_graphql_root_fields_total on reg.
func NewGraphQL(reg prometheus.Registerer) *GraphQL {
	g := &GraphQL{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_graphql_operations_total",
			Help: "GraphQL operations by operation name (bounded), kind (query, mutation, subscription, forwarded, refused, persisted-miss) and result (hit, partial, miss, stale, bypass).",
		}, []string{"operation", "kind", "result"}),
		fields: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "moat_graphql_root_fields_total",
			Help: "Root fields of GraphQL queries, by where they came from (cache, origin).",
		}, []string{"source"}),
	}
	reg.MustRegister(g.ops, g.fields)
	g.cached, g.origin = g.fields.WithLabelValues("cache"), g.fields.WithLabelValues("origin")
	return g
}

// Operation implements graphql.Observer.
func (g *GraphQL) Operation(name, kind string, result gateway.Result, fields, cached int) {
	if name == "" {
		name = "(anonymous)"
	}
	g.ops.WithLabelValues(name, kind, result.String()).Inc()
	g.cached.Add(float64(cached))
	g.origin.Add(float64(fields - cached))
}
