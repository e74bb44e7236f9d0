// Package fanout forwards every purge moat performs to the other cache layers in front of
// it or beside it (a CDN's purge endpoint, another moat), so that one purge reaches every
// layer: moat's own cache is not the only place a purged response lives.
//
// The data flow:
//
//	purge API / write-path rule ─▶ Enqueue ─▶ JSON body, built once
//	                                  ├─▶ queue[0] (bounded) ─▶ worker 0 ─▶ POST targets[0].url (retries)
//	                                  └─▶ queue[1] (bounded) ─▶ worker 1 ─▶ POST targets[1].url (retries)
//
// Enqueue never blocks and never waits for the network: the purge API answers as soon as
// moat's own cache is purged. Each target has its own queue and its own worker goroutine, so
// a slow or failing CDN delays only its own deliveries. A full queue drops its oldest purge
// (see Options.QueueSize for why), and every drop is counted in Stats.
//
// Delivery is at least once: a delivery whose answer was lost is retried, and every attempt
// carries the same Idempotency-Key (the purge's ID) so that a target can tell a retry from a
// new purge. Purging twice is harmless anyway; the key lets a target skip the work.
//
// The body is moat's own purge format, not a CDN's native API:
//
//	{"tags":["product:42"],"urls":[...],"prefixes":[...],"routes":[...],"all":true,"soft":true,
//	 "id":"<32 hex digits>","origin":"moat"}
//
// with empty fields omitted. The selector fields are those of moat's admin purge API; a CDN
// whose API wants another shape needs a small adapter (or a future per-target body template).
//
// WARNING: purge targets can form a cycle (moat A fans out to moat B, which fans out to A),
// and then one purge circulates forever. A moat that fans out a purge it received from
// another layer must keep the incoming "id" as Purge.ID and refuse an ID it has already seen.
//
// Lifecycle: New validates, Start launches one worker per target, Close stops accepting,
// drains what is queued until its context ends, then stops the workers. Nothing runs before
// Start or after Close returns.
package fanout
