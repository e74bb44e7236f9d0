// Package mapping turns the events of an application's change stream into
// moat purges, by rules written in config (docs/invalidation.md).
package mapping

// Config is a source's mapping, as written in config.
type Config struct {
	Format string // "", "auto", "json", "cloudevents"
	ID     string // template of the event ID; "" for the default
	Rules  []Rule
}

// Rule is one rule: when its When matches, its purges are added.
type Rule struct {
	When     map[string][]string
	Tags     []string
	URLs     []string
	Prefixes []string
	Routes   []string
	All      bool
	Soft     bool
}

// Error is a problem with a Config: Rule is the rule's index (-1 for the
// source's own keys), Field its key ("tags[1]", "when.data.type", "id").
type Error struct {
	Rule  int
	Field string
	Msg   string
}

func (e Error) Error() string { return e.Msg }

// Mapper maps messages to purges.
type Mapper struct{}

// Compile checks c and returns its Mapper, or every problem.
func Compile(c Config) (*Mapper, []Error) { return &Mapper{}, nil }

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
