// Package nats reads the application's NATS subjects and JetStream streams
// as event sources (events.Source) for moat's invalidation.
//
// The data flow is one goroutine per source: Run connects (reconnecting
// forever in the background), reads messages one at a time and calls
// deliver with each, in the order the transport gave them; Status may be
// read at any time from any goroutine.
//
// # Delivery guarantees
//
// Core (NATS core subscriptions) is at-most-once. A message published while
// this node is disconnected is never seen, and neither is one the client
// drops because deliver fell too far behind (the subscription's pending
// limits bound the memory a flood can take; each drop is counted in
// Status.LastError and logged). NATS core cannot redeliver, so when deliver
// fails the source retries the same message a few times, backing off, and
// then drops it with an error logged: the purge it carried is lost.
//
// JetStream is at-least-once. It reads a durable pull consumer and
// acknowledges a message (a double ack, confirmed by the server) only
// after deliver returned nil for it, so a message this node stopped, died
// or failed on is handed out again, to this node or (with a shared
// durable) another. Duplicates happen (an ack lost with the connection, a
// message held past AckWait); the Runner drops them by event ID, whose
// default for JetStream is the stream sequence (Message.TransportID).
//
// Order: a JetStream source delivers in stream order, and retries a failing
// message in place a few times so that order holds through short failures.
// A message that keeps failing is handed back to JetStream with a delay
// (a NAK) and the messages behind it go on: it is redelivered later, after
// them. This keeps one bad stretch from stalling the stream, at the price
// of strict order across a redelivery; purges mostly commute (purging tag
// a then b is purging b then a), which is why we chose it over
// MaxAckPending 1, which would keep strict order but pay a round trip per
// message. With a shared durable the fleet's nodes each take a part of the
// stream, so there is no fleet-wide order anyway.
package nats
