// Package graphql caches GraphQL as well as REST: it is a
// gateway.Extension for a GraphQL endpoint (gateway.Options.Extensions,
// keyed by the route's pattern; moat's config builds it from a route's
// graphql block).
//
// # Data flow
//
//	client request (GET, POST application/json or application/graphql)
//	  parse (gqlparser), validate against Options.Schema if set
//	     not taken apart (parse error, subscription, @defer, batch…) → forwarded as it came
//	  normalize: one canonical field per root field (aliases, order,
//	     fragments, @skip/@include, variables of built-in scalar types gone)
//	  one subrequest per root field, through the engine (Subrequests.Serve):
//	     GET <endpoint>?query=<the field's canonical query>&variables=…
//	     keyed as any GET, under the route's scope, or per user for a field
//	     the hints make private; fresh, stale, coalesced, fleet lease, L2:
//	     all the engine's
//	  the fills of one client request meet in RoundTrip (batch.go) and go to
//	     the origin as ONE query of the missing root fields; each fill is
//	     answered with its own field, its max age and its entity tags
//	  the client's response is shaped from the canonical values (shape.go)
//
//	mutation: forwarded with __typename and key fields added (under
//	     moat__ aliases), the entities in its answer purged by tag through
//	     the engine's one purge path (every node), the additions removed
//
// WARNING: a root field is shared by every caller its scope covers. The
// hints (Options.Hints, @cacheControl) decide which fields are private;
// a field whose answer depends on the caller and is not marked PRIVATE is
// served to everyone who asks the same query. See docs/graphql.md.
package graphql
