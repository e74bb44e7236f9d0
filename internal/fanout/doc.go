// Package fanout forwards every purge moat performs to the other cache layers in front of
// it or beside it (a CDN's purge endpoint, another moat), so that one purge reaches every
// layer: moat's own cache is not the only place a purged response lives.
//
// The data flow:
//
//	purge API / write-path rule ─▶ Enqueue ─▶ copy of the Purge, shared
//	                                  ├─▶ queue[0] (bounded) ─▶ worker 0 ─▶ adapter 0 ─▶ batches, each with retries
//	                                  └─▶ queue[1] (bounded) ─▶ worker 1 ─▶ adapter 1 ─▶ batches, each with retries
//
// Enqueue never blocks and never waits for the network: the purge API answers as soon as
// moat's own cache is purged. Each target has its own queue and its own worker goroutine, so
// a slow or failing CDN delays only its own deliveries. A full queue drops its oldest purge
// (see Options.QueueSize for why), and every drop is counted in Stats.
//
// Delivery is at least once: a request whose answer was lost is retried. To a moat target
// every attempt carries the same Idempotency-Key (the purge's ID) so that it can tell a retry
// from a new purge. Purging twice is harmless anyway; the key lets a target skip the work.
//
// Each target has a Type, and its adapter turns a purge into that API's requests: moat's own
// JSON for another moat (TypeMoat, the default), Cloudflare's purge_cache, Fastly's purge
// API, Akamai Fast Purge (EdgeGrid-signed), or PURGE/BAN requests for Varnish with xkey. A
// moat target gets one POST per purge:
//
//	{"tags":["product:42"],"urls":[...],"prefixes":[...],"routes":[...],"all":true,"soft":true,
//	 "id":"<32 hex digits>","origin":"moat"}
//
// with empty fields omitted. A CDN gets one request per batch (at most its API's limit), in
// order; a batch that fails for good does not stop the next. Parts of a purge a type cannot
// express are skipped and counted (TargetStats.Unsupported), never widened into a purge of
// everything.
//
// WARNING: purge targets can form a cycle (moat A fans out to moat B, which fans out to A),
// and then one purge circulates forever. A moat that fans out a purge it received from
// another layer must keep the incoming "id" as Purge.ID and refuse an ID it has already seen.
//
// Lifecycle: New validates, Start launches one worker per target, Close stops accepting,
// drains what is queued until its context ends, then stops the workers. Nothing runs before
// Start or after Close returns.
package fanout
