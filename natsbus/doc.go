// Package natsbus is a purge bus (gateway.Bus) over NATS core, so that a
// fleet whose shared cache is not Redis (Memcached, or none) can still
// share its purges: each node publishes the purges it applies on one
// subject and applies those the others publish.
//
// The data flow: a member's publish encodes the purge with the sender's
// identity (an envelope) and queues it, without blocking; one goroutine per
// Bus numbers the queued purges (see below) and hands them to the NATS
// client, which writes them out (or holds them in its reconnect buffer
// while the connection is down). One subscription per Bus reads the
// subject, checks the numbers and calls every member's deliver but the
// sender's, in the order the server gave the messages.
//
// # Guarantees, and why not JetStream
//
// NATS core delivers at most once and has no replay: a purge published
// while a node is disconnected, lost on the way, or dropped by its sender
// (queue or client buffer full, too big) never reaches the node. The bus
// does not try to recover those purges; it tells the members instead
// (lost), and the gateway then stops trusting what it holds (as with
// redisl2's bus when its replay falls short). lost is called:
//
//   - when the connection is back after a disconnect (after the
//     subscription is in place again, so purges from then on are heard);
//   - every Grace while the connection stays down, so that a node cut off
//     for long does not go on serving what the others purged meanwhile;
//   - when the connection comes up after New started without it (members
//     joined meanwhile cached without hearing purges);
//   - when the client dropped messages of the subscription (slow consumer);
//   - when a sender's numbers skip some never heard here (a gap, below).
//
// A purge cache is only as good as what it purges now, and the recovery
// above is one full distrust however many purges were missed, so
// JetStream's replay would buy little for a stream to provision and keep.
// The cost of the choice: every reconnect, a server restart or a network
// blip, and every purge a sender drops, costs the nodes their trust in
// what they hold.
//
// # Sequence numbers
//
// Each member is a stream: its ID is its Bus's random instance ID and a
// counter, so a restarted process (or a new Bus) is a new stream. The send
// goroutine numbers the stream's purges from 1, one number per purge the
// member publishes, including the purges it drops: a dropped purge cannot
// be sent, but the next message of its stream shows its number missing.
// That next message may be long in coming (purges are rare), so a member
// also sends tails, small messages without a purge that repeat the last
// number taken: as soon as the queue is empty after a drop; every Grace if
// the stream moved since its last tail (a purge lost on the way then shows
// even if its sender falls silent); after each reconnect of the sender
// (what it wrote as the connection broke may be lost); and at Close. A
// message without a number is malformed (this package has no older wire
// format to read).
//
// Each Bus remembers the last number heard per stream, for the 4,096
// streams heard most recently (BusStats.Senders). A purge numbered last+1
// is delivered. One numbered at or below the last is dropped and counted
// (BusStats.Duplicates): NATS core keeps the order of one connection's
// messages and one goroutine numbers and sends them, so that is a replay,
// not a purge to apply. A higher number, or a tail above the last, is a
// gap: the members but the sender's are told lost (BusStats.Gaps),
// unless a lost that told every member came after the missing numbers
// were taken, which covered them already (so the burst of gaps that
// follows a reconnect costs no second distrust). When they were taken is
// bounded without synchronized clocks: each message carries how long
// before it, on the sender's monotonic clock, its previous number was
// taken; the receiver takes that from the moment it heard the message,
// allowing 200 ppm of clock drift and 100µs.
//
// A stream heard for the first time (a new sender, a restarted one, or one
// this Bus forgot among more than 4,096) has no last number. A message
// numbered 1 starts it; any other is a gap if the numbers before it were
// taken, by the bound above, after this Bus's subscription was in place,
// after its first member joined and after it last forgot a stream: then
// this Bus would have heard them, and did not. Otherwise they predate what
// the members hold, or were heard and forgotten, or were covered by a
// lost, and the message's number is the start.
//
// The guarantee, then: when a node's members hear a message of a stream
// (purge or tail) numbered n, every purge of that stream numbered up to n
// (below n for a purge), made after the node's Bus listened and its first
// member joined, was delivered to them, or they were told lost after it
// was made. A missed purge is told when the next message of its stream
// arrives: the sender's next purge, or its tail, at once after a drop and
// within about Grace after a purge lost on the way, if the sender lives
// and that message gets through. Limits: a sender that dies right after a
// drop, or whose tails are lost too, leaves the gap until its next
// message, if any (its next process is a new stream); a stream forgotten
// and heard again takes its numbers taken before the forgetting as heard;
// and a stream first heard whose previous number was taken within about a
// message's transit time before the Bus listened may cost one needless
// lost.
//
// WARNING: whoever may publish on the subject can purge every node's cache
// (and set the route versions the purges carry). Restrict the subject with
// NATS permissions or an account of the fleet's own.
package natsbus
