// Package events listens to the application's own change streams (Kafka,
// NATS and JetStream, Redis pub/sub and Streams) and turns their events
// into moat purges through the one invalidation path (DESIGN invariant 5).
//
// A Source reads one stream and hands each message to a Deliver func, in
// the stream's order; it acknowledges (commits, ACKs) a message only after
// Deliver returned nil for it and every message before it, so that a
// message whose purge was not applied is read again (at-least-once for the
// sources that can: Kafka, JetStream, Redis Streams). The Runner (run.go)
// maps messages to purges (package mapping), drops the IDs it applied
// lately, applies the purges and counts everything per source.
package events

import (
	"context"
	"time"

	"github.com/moatproxy/moat/internal/events/mapping"
)

// Message is one message as a transport read it.
type Message = mapping.Message

// Deliver applies one message. A nil error means the message is done
// (applied, a duplicate, or a dead letter that was counted) and may be
// acknowledged; an error means it was not applied and must be delivered
// again (the source backs off, then retries it or lets the transport
// redeliver it).
type Deliver func(ctx context.Context, m Message) error

// Source reads one stream.
type Source interface {
	// Run reads until ctx is done, calling deliver for each message in
	// order, and returns nil then. It reconnects by itself after transport
	// errors (backing off, recording them in Status); it returns an error
	// only when it cannot run at all (a setting the transport rejects).
	Run(ctx context.Context, deliver Deliver) error
	// Status is the source's health for metrics and the dashboard. It is
	// safe to call concurrently with Run.
	Status() Status
}

// Status is a source's health.
type Status struct {
	// Connected is true while the source holds a working connection (and,
	// for group consumers, its membership).
	Connected bool `json:"connected"`
	// Lag is how many messages wait to be read by this node's consumer
	// (Kafka: high watermark minus committed offset, summed over this
	// node's partitions; JetStream: pending; Redis Streams: the group's
	// lag), or -1 where the transport cannot tell (NATS core, pub/sub).
	Lag int64 `json:"lag"`
	// LastError is the last transport error, and when it happened.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}
