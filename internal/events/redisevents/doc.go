// Package redisevents reads the application's change events from its own
// Redis: pub/sub channels ([PubSub]) or a Stream read with a consumer group
// ([Stream]). Both are [events.Source]s: Run hands each message to a
// Deliver func, in order, on the goroutine that called Run.
//
// # Pub/sub: at-most-once
//
// Redis keeps no pub/sub history: a message published while no node is
// subscribed (before the first subscription, during a reconnect) is never
// seen. Run subscribes (SUBSCRIBE and PSUBSCRIBE) on one dedicated
// connection, so channel and pattern messages keep the order Redis sent
// them in. The connection's reader hands each message to a bounded queue
// and never waits; Run's goroutine takes them from the queue and delivers
// them one at a time. When Deliver is slower than the publishers, the
// queue fills up to its bound (1,024 messages or 8 MiB of payloads) and
// each further message is dropped (the newest, not the queued ones) until
// there is room again: counted in [PubSub.Dropped] and recorded in
// Status.LastError, with one log line per burst. So a flood costs moat a
// fixed amount of memory, and the reader keeps draining the socket, so
// that Redis does not disconnect moat for exceeding its
// client-output-buffer-limit for pub/sub (a disconnection would lose
// messages too, and more of them). A Deliver error is retried, with
// backoff, until Deliver succeeds or Run stops; the queue keeps filling
// meanwhile.
//
// # Streams: at-least-once
//
// Stream reads with XREADGROUP as consumer node of its group (created with
// XGROUP CREATE ... MKSTREAM if missing) and acknowledges an entry (XACK)
// only once Deliver returned nil for it. Delivery is in stream order:
// after a Deliver error it backs off and delivers the same entry again,
// never moving past it. A session (one connection) first delivers this
// consumer's own pending entries (read and not acknowledged before a
// crash, a restart or a lost connection: XREADGROUP from ID 0), then new
// ones (ID ">"). Every ClaimAfter/2 it takes over, with XAUTOCLAIM, the
// entries that other consumers of the group have held unacknowledged for
// longer than ClaimAfter (a node that died mid-event) and delivers them;
// these arrive after entries that followed them in the stream.
//
// An entry is delivered more than once when its acknowledgement is lost
// (the connection breaks between Deliver and XACK), and when it was
// claimed from a consumer that was slow rather than dead; the Runner's
// dedupe drops such repeats by the entry ID (TransportID). An entry whose
// Deliver returned nil as Run was stopped is still acknowledged (the XACK
// is detached from Run's context), so that a clean stop causes no repeat.
//
// # Connections
//
// Each source opens its own connections, as a standalone client (no
// cluster, no sentinel), to Addrs[0], and after a connection error to the
// next address in turn, backing off up to 5s. Client-side caching is off.
// Run returns nil when its context ends. It never gives up on a transport
// error, which it records in Status and logs, with one exception: settings
// that Redis rejects before the source ever ran (wrong credentials, an ACL
// that forbids the key or channels, a missing DB, a key that is not a
// stream) end Run with an error wrapping [ErrRejected], rather than being
// retried for ever.
package redisevents
