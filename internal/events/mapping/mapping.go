// Package mapping turns the events of an application's change stream into
// moat purges, by rules written in config (docs/invalidation.md).
//
// The data flow: config's rules are compiled once (Compile), which checks
// every template and path and turns each template into literal and
// placeholder segments. Then, for each message a source reads, Map
//
//  1. sees the message as a document: the top-level object of a JSON
//     payload, or a CloudEvent's attributes with its payload as "data"
//     (structured mode: the JSON envelope; binary mode: ce_/ce- headers);
//     the payload is parsed at most once, and only if a path needs it;
//  2. works out the event's ID (the id template, else the CloudEvent's
//     source and id, else the transport's own ID);
//  3. runs every rule whose when matches, expanding its templates: a
//     placeholder naming a list gives one item per element;
//  4. returns the items, deduplicated, as at most two purges: a hard one
//     (which carries routes and all) and a soft one.
//
// A Mapper is immutable: Map may be called from many goroutines at once.
//
// WARNING: values are put into templates as they are, not escaped. Whoever
// can publish to the stream chooses them: a value with "/" or "?" changes
// the shape of a URL or prefix, and a templated URL host lets an event
// purge any host. Template only the parts an event may choose.
package mapping

import (
	"errors"
	"strconv"
)

// Config is a source's mapping, as written in config.
type Config struct {
	// Format is how payloads are read: "" or "auto" (a CloudEvent if the
	// headers or the payload say so, else JSON), "json" or "cloudevents".
	Format string
	// ID is the template of the event ID, e.g. "{event_id}". "": the
	// CloudEvent's source and id (joined by a space) when the event is a
	// CloudEvent, else Message.TransportID.
	ID    string
	Rules []Rule
}

// Rule is one rule: when its When matches, its purges are added.
type Rule struct {
	// When maps paths to the values they must equal (any one of them);
	// every path must match. A missing path does not match; a list
	// matches if any element does. Empty: every event.
	When map[string][]string
	// Tags, URLs and Prefixes are templates ("book:{id}"). URLs start with
	// http:// or https://, prefixes with /.
	Tags     []string
	URLs     []string
	Prefixes []string
	// Routes are route patterns ("GET /books/{id}"), copied as they are:
	// their braces are the route's own parameters.
	Routes []string
	// All purges everything.
	All bool
	// Soft marks tags, URLs and prefixes stale instead of removing them;
	// routes and all are always hard.
	Soft bool
}

// Error is a problem with a Config: Rule is the rule's index (-1 for the
// source's own keys), Field its key ("tags[1]", "when.data.type", "id").
type Error struct {
	Rule  int
	Field string
	Msg   string
}

func (e Error) Error() string {
	where := e.Field
	if e.Rule >= 0 {
		where = "rules[" + strconv.Itoa(e.Rule) + "]"
		if e.Field != "" {
			where += "." + e.Field
		}
	}
	if where == "" {
		return "mapping: " + e.Msg
	}
	return "mapping: " + where + ": " + e.Msg
}

// Message is one message as a transport read it.
type Message struct {
	// Data is the payload.
	Data []byte
	// Headers are the transport's headers (Kafka record headers, NATS
	// headers; nil where there are none), by name as sent.
	Headers map[string]string
	// Topic is the Kafka topic, NATS subject, Redis channel or stream key.
	Topic string
	// Key is the Kafka record key (nil elsewhere).
	Key []byte
	// TransportID identifies the message in its transport: "topic/partition/offset"
	// (Kafka), the stream sequence (JetStream), the entry ID (Redis
	// Streams); "" where there is none (NATS core, pub/sub).
	TransportID string
}

// Purge is what one event asks for; soft purges and hard purges are
// separate values. Every item is non-empty.
type Purge struct {
	Tags, URLs, Prefixes, Routes []string
	All, Soft                    bool
}

// Result is what Map made of a message: its ID and at most two purges, the
// hard one (with the routes and all) first, then the soft one. Each purge
// names something; an event whose matched rules expanded to nothing (empty
// lists) has no purges.
type Result struct {
	ID     string
	Purges []Purge
}

// Errors of Map, wrapped with what failed (which rule, which path).
var (
	// ErrParse: the event had to be read and could not be: the payload is
	// not JSON, too large, not an object where one is needed, or a bad
	// CloudEvent.
	ErrParse = errors.New("mapping: cannot read the event")
	// ErrUnmapped: no rule matched.
	ErrUnmapped = errors.New("mapping: no rule matched the event")
	// ErrInvalid: a matched rule's template failed (a missing path, null,
	// an object) or made an invalid item, or the event made too many.
	ErrInvalid = errors.New("mapping: invalid event")
)

// Limits on what one event can make Map do.
const (
	// MaxPayload is the largest payload read; a larger one is ErrParse.
	MaxPayload = 1 << 20
	// MaxItems is how many tags, URLs and prefixes one event may expand
	// to, over all its rules, before deduplication; more is ErrInvalid.
	MaxItems = 1000
)
