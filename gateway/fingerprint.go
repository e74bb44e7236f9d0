package gateway

import (
	"fmt"
	"hash/fnv"
	"strconv"

	"github.com/moatproxy/moat/policy"
)

// fingerprintOf is what every entry of o's handler depends on besides its
// key: the origin it came from, the stored coding, the heuristic
// freshness of responses without a route and the targeted fields obeyed.
func fingerprintOf(o Options) string {
	return fingerprint(fmt.Sprintf("%s|%t|%d|%q", o.Origin, o.Compress, o.HeuristicMax, o.TargetedCacheControl))
}

// routeFingerprint is what a route's stored entries depend on besides
// their key: the policy fields that decide whether a response is stored,
// for whom, with which tags and how long it is served. A change to any of
// them (a reload, or a node of the fleet that runs another configuration)
// keys the route's entries anew; a change to the others (limits, refresh,
// invalidation rules, downstream headers) keeps them. Query rules are not
// here: they change the key itself where they change anything.
func routeFingerprint(global string, p *policy.Policy) string {
	return fingerprint(fmt.Sprintf("%s|%d|%t|%t|%t|%d|%d|%g|%q|%d|%q|%q|%q|%t|%q|%q",
		global, p.TTL, p.OverrideOrigin, p.Bypass, p.AllowSetCookie,
		p.StaleWhileRevalidate, p.StaleIfError, p.TTLJitter, p.Tags, p.Scope,
		p.Vary, p.Languages, p.MediaTypes, p.AllowCredentials, p.Upstream, p.TagFields))
}

func fingerprint(s string) string {
	f := fnv.New64a()
	_, _ = f.Write([]byte(s))
	return strconv.FormatUint(f.Sum64()&(1<<40-1), 36)
}
