// Package natsbus is a purge bus (gateway.Bus) over NATS core, so that a
// fleet whose shared cache is not Redis (Memcached, or none) can still
// share its purges: each node publishes the purges it applies on one
// subject and applies those the others publish.
//
// The data flow: a member's publish encodes the purge with the sender's
// identity (an envelope) and queues it, without blocking; one goroutine per
// Bus hands the queue to the NATS client, which writes it out (or holds it
// in its reconnect buffer while the connection is down). One subscription
// per Bus reads the subject and calls every member's deliver but the
// sender's, in the order the server gave the messages.
//
// # Guarantees, and why not JetStream
//
// NATS core delivers at most once and has no replay: a purge published
// while a node is disconnected, or dropped because the node's members fell
// too far behind, never reaches it. The bus does not try to recover those
// purges; it tells the members instead (lost), and the gateway then stops
// trusting what it holds (as with redisl2's bus when its replay falls
// short). lost is called:
//
//   - when the connection is back after a disconnect (after the
//     subscription is in place again, so purges from then on are heard);
//   - every Grace while the connection stays down, so that a node cut off
//     for long does not go on serving what the others purged meanwhile;
//   - when the connection comes up after New started without it (members
//     joined meanwhile cached without hearing purges);
//   - when the client dropped messages of the subscription (slow consumer).
//
// A purge cache is only as good as what it purges now, and the recovery
// above is one full distrust however many purges were missed, so
// JetStream's replay would buy little for a stream to provision and keep.
// The cost of the choice: every reconnect, a server restart or a network
// blip, costs every node its trust in what it holds.
//
// WARNING: whoever may publish on the subject can purge every node's cache
// (and set the route versions the purges carry). Restrict the subject with
// NATS permissions or an account of the fleet's own.
package natsbus
