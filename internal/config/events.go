package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/moatproxy/moat/internal/events/mapping"
)

// Events are the application's own change streams that moat listens to:
// each source turns the events it reads into purges, which take the one
// invalidation path (every node, every purge target). See
// docs/invalidation.md.
type Events struct {
	// Node names this node to the sources that need a per-node identity
	// (a per-node Kafka group or JetStream consumer, the consumer name in
	// a Redis Streams group). It must stay the same across restarts, so
	// that a restarted node resumes where it stopped. Default: the host
	// name.
	Node string `yaml:"node"`
	// Dedupe is how many recent event IDs each node remembers, so that an
	// event delivered twice (at-least-once sources, a Kafka rebalance) is
	// applied once. Default 100000; the memory it takes is counted at
	// about 100 bytes an ID.
	Dedupe int `yaml:"dedupe"`
	// Sources are the streams to consume.
	Sources []EventSource `yaml:"sources,omitempty"`
}

// EventSource is one stream and how its events become purges. Exactly one
// of Kafka, NATS, JetStream, RedisPubSub and RedisStream is set.
type EventSource struct {
	// Name identifies the source in metrics, logs and the dashboard;
	// letters, digits, '-' and '_'. Required and unique.
	Name string `yaml:"name"`

	Kafka       *KafkaSource       `yaml:"kafka,omitempty"`
	NATS        *NATSSource        `yaml:"nats,omitempty"`
	JetStream   *JetStreamSource   `yaml:"jetstream,omitempty"`
	RedisPubSub *RedisPubSubSource `yaml:"redis_pubsub,omitempty"`
	RedisStream *RedisStreamSource `yaml:"redis_stream,omitempty"`

	// Format is how payloads are read: "auto" (the default: a CloudEvent
	// if the payload or the message's headers say so, else JSON), "json"
	// or "cloudevents".
	Format string `yaml:"format"`
	// ID is a template for the event's ID, which makes a redelivered
	// event a duplicate, e.g. "{event_id}". Default: the CloudEvents id
	// (with its source), else the transport's own identity of the message
	// (topic, partition and offset; stream entry ID; JetStream sequence).
	ID string `yaml:"id"`
	// Rules map an event to purges: every rule whose `when` matches adds
	// its purges. An event no rule maps is counted as unmapped (a dead
	// letter) and acknowledged.
	Rules []EventRule `yaml:"rules"`
}

// EventRule is one mapping rule (see docs/invalidation.md for the
// language).
type EventRule struct {
	// When is the condition: each field path (data.type, type, $topic,
	// $header.Name...) must equal the value, or one of the values of a
	// list. Empty: every event.
	When map[string]StringList `yaml:"when,omitempty"`
	// Tags, URLs, Prefixes and Routes are templates: "{path}" is replaced
	// by the field's value (one purge item per element when it is a
	// list). Routes are route patterns, e.g. "GET /books/{id}" (not
	// templated: braces there are the route's own parameters).
	Tags     []string `yaml:"tags,omitempty"`
	URLs     []string `yaml:"urls,omitempty"`
	Prefixes []string `yaml:"prefixes,omitempty"`
	Routes   []string `yaml:"routes,omitempty"`
	// All purges everything.
	All bool `yaml:"all"`
	// Soft marks the entries stale instead of removing them (tags, URLs
	// and prefixes), so they are served under their stale windows while
	// they refresh.
	Soft bool `yaml:"soft"`
}

// StringList is a scalar or a list of scalars in YAML.
type StringList []string

// KafkaSource reads Kafka topics with a consumer group. Offsets are
// committed only after the events up to them were applied, so a restart
// resumes where the group stopped (at-least-once).
type KafkaSource struct {
	// Brokers are the seed brokers, host:port. Required.
	Brokers []string `yaml:"brokers"`
	// Topics are the topics to read. Required.
	Topics []string `yaml:"topics"`
	// Group is the consumer group. Default "moat-" + the source's name.
	// With PerNode false (the default) the fleet shares it: each event is
	// read by one node, which applies it and publishes it to the others on
	// the purge bus (so the fleet needs a bus: cache.redis, cache.nats_bus
	// or purge_targets naming the other moats).
	Group string `yaml:"group"`
	// PerNode gives each node its own group (Group + "-" + events.node):
	// every node reads every event, and needs no bus to hear of it.
	PerNode bool `yaml:"per_node"`
	// Start is where a group with no committed offset starts: "latest"
	// (the default: events from now on) or "earliest".
	Start string `yaml:"start"`
	// ClientID is sent to the brokers. Default "moat".
	ClientID string `yaml:"client_id"`
	// TLS connects with TLS (system roots).
	TLS bool `yaml:"tls"`
	// Username and Password authenticate with SASL/PLAIN (over TLS) or,
	// with Mechanism "scram-sha-256" or "scram-sha-512", SCRAM.
	Username  string `yaml:"username" config:"env"`
	Password  string `yaml:"password" config:"env"`
	Mechanism string `yaml:"mechanism"`
}

// NATSSource subscribes to NATS core subjects: at-most-once (an event
// published while no node listens is not seen).
type NATSSource struct {
	// URL is the server, e.g. nats://127.0.0.1:4222 (several,
	// comma-separated). Required.
	URL string `yaml:"url"`
	// Subject may use NATS wildcards (catalog.>). Required.
	Subject string `yaml:"subject"`
	// Queue, if set, is a queue group: each event goes to one node of the
	// fleet (which publishes it on the purge bus). Default "": every node
	// hears every event.
	Queue    string `yaml:"queue"`
	NATSAuth `yaml:",inline"`
}

// NATSAuth authenticates to NATS: a token, or a user and a password.
//
// WARNING: Token and Password are secrets; write them as "${NAME}".
type NATSAuth struct {
	Token    string `yaml:"token" config:"env"`
	Username string `yaml:"username" config:"env"`
	Password string `yaml:"password" config:"env"`
}

// JetStreamSource reads a JetStream stream with a durable pull consumer,
// acknowledging each event after it was applied (at-least-once; a
// restart resumes at the consumer's position).
type JetStreamSource struct {
	// URL is the server, as for NATS. Required.
	URL string `yaml:"url"`
	// Stream is the stream's name. Required.
	Stream string `yaml:"stream"`
	// Subject filters the stream's subjects. Default: all of them.
	Subject string `yaml:"subject"`
	// Durable is the consumer's name. Default "moat-" + the source's
	// name; with PerNode, + "-" + events.node.
	Durable string `yaml:"durable"`
	// PerNode gives each node its own durable consumer (every node reads
	// every event). Default false: the fleet shares one, and each event
	// goes to one node, which publishes it on the purge bus.
	PerNode bool `yaml:"per_node"`
	// Start is where a new consumer starts: "new" (the default) or "all".
	Start string `yaml:"start"`
	// AckWait is how long an event handed to a node may stay
	// unacknowledged before JetStream hands it out again. Default 30s.
	AckWait  Duration `yaml:"ack_wait"`
	NATSAuth `yaml:",inline"`
}

// RedisPubSubSource subscribes to channels of the application's Redis:
// at-most-once, every node hears every event.
type RedisPubSubSource struct {
	// Addrs is the application's Redis, host:port (not necessarily moat's
	// cache.redis). Required.
	Addrs []string `yaml:"addrs"`
	// Channels are channel names; Patterns are PSUBSCRIBE patterns. At
	// least one of them is required.
	Channels []string `yaml:"channels,omitempty"`
	Patterns []string `yaml:"patterns,omitempty"`
	Username string   `yaml:"username" config:"env"`
	Password string   `yaml:"password" config:"env"`
	DB       int      `yaml:"db"`
}

// RedisStreamSource reads a Redis Stream of the application's with a
// consumer group, acknowledging (XACK) each entry after it was applied; a
// restarted node first takes back what it had read and not acknowledged.
type RedisStreamSource struct {
	// Addrs is the application's Redis, host:port. Required.
	Addrs []string `yaml:"addrs"`
	// Stream is the stream's key. Required.
	Stream string `yaml:"stream"`
	// Group is the consumer group, created if missing. Default "moat-" +
	// the source's name; with PerNode, + "-" + events.node.
	Group string `yaml:"group"`
	// PerNode gives each node its own group (every node reads every
	// entry). Default false: each entry goes to one node, which publishes
	// it on the purge bus.
	PerNode bool `yaml:"per_node"`
	// Start is where a new group starts: "new" (the default, "$") or
	// "all" ("0").
	Start string `yaml:"start"`
	// Field is the entry's field holding the event payload. Default
	// "data"; an entry without it is read as a JSON object of all its
	// fields.
	Field string `yaml:"field"`
	// ClaimAfter is how long another node's entry may stay pending before
	// this node claims it (the other node died mid-event). Default 30s.
	ClaimAfter Duration `yaml:"claim_after"`
	Username   string   `yaml:"username" config:"env"`
	Password   string   `yaml:"password" config:"env"`
	DB         int      `yaml:"db"`
}

// Event defaults.
const (
	DefaultEventDedupe     = 100_000
	MaxEventDedupe         = 2_000_000
	DefaultEventAckWait    = Duration(30 * time.Second)
	DefaultEventClaimAfter = Duration(30 * time.Second)
)

var (
	eventFormats    = []string{"auto", "json", "cloudevents"}
	eventSourceName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// Kind names the source's transport ("kafka", "nats", "jetstream",
// "redis_pubsub", "redis_stream"); "" if none or several are set.
func (s *EventSource) Kind() string {
	var kinds []string
	if s.Kafka != nil {
		kinds = append(kinds, "kafka")
	}
	if s.NATS != nil {
		kinds = append(kinds, "nats")
	}
	if s.JetStream != nil {
		kinds = append(kinds, "jetstream")
	}
	if s.RedisPubSub != nil {
		kinds = append(kinds, "redis_pubsub")
	}
	if s.RedisStream != nil {
		kinds = append(kinds, "redis_stream")
	}
	if len(kinds) != 1 {
		return ""
	}
	return kinds[0]
}

// MappingRules returns the source's rules in the mapping package's terms.
func (s *EventSource) MappingRules() mapping.Config {
	c := mapping.Config{Format: s.Format, ID: s.ID}
	for _, r := range s.Rules {
		c.Rules = append(c.Rules, mapping.Rule{When: map[string][]string(castWhen(r.When)), Tags: r.Tags, URLs: r.URLs,
			Prefixes: r.Prefixes, Routes: r.Routes, All: r.All, Soft: r.Soft})
	}
	return c
}

func castWhen(w map[string]StringList) map[string][]string {
	if w == nil {
		return nil
	}
	out := make(map[string][]string, len(w))
	for k, v := range w {
		out[k] = v
	}
	return out
}

func (k *checker) events() {
	e := &k.c.Events
	if e.Dedupe < 0 || e.Dedupe > MaxEventDedupe {
		k.errorf("events.dedupe", nil, "want 0 (default %d) to %d IDs (each takes up to about 200 bytes), got %d", DefaultEventDedupe, MaxEventDedupe, e.Dedupe)
	}
	if e.Node != "" && !eventSourceName.MatchString(e.Node) {
		k.errorf("events.node", nil, "want letters, digits, '-' and '_' (up to 64), got %q", e.Node)
	}
	seen := map[string]bool{}
	for i := range e.Sources {
		s := &e.Sources[i]
		base := fmt.Sprintf("events.sources[%d]", i)
		switch {
		case s.Name == "":
			k.errorf(base+".name", []string{base}, "required: a name for metrics and logs, e.g. catalog")
		case !eventSourceName.MatchString(s.Name):
			k.errorf(base+".name", nil, "want letters, digits, '-' and '_' (up to 64), got %q", s.Name)
		case seen[s.Name]:
			k.errorf(base+".name", nil, "%q names another source too", s.Name)
		}
		seen[s.Name] = true
		if s.Kind() == "" {
			k.errorf(base, nil, "set exactly one of kafka, nats, jetstream, redis_pubsub, redis_stream")
		}
		if s.Format != "" && !slices.Contains(eventFormats, s.Format) {
			k.errorf(base+".format", nil, "%s", oneOf(s.Format, eventFormats))
		}
		if len(s.Rules) == 0 {
			k.errorf(base+".rules", []string{base}, "required: at least one rule mapping events to purges")
		}
		for j, r := range s.Rules {
			for n, route := range r.Routes {
				if !k.hasRoute(route) {
					k.errorf(fmt.Sprintf("%s.rules[%d].routes[%d]", base, j, n), nil, "no route %q in routes (write it as its match: is written)", route)
				}
			}
		}
		if _, errs := mapping.Compile(s.MappingRules()); len(errs) > 0 {
			for _, err := range errs {
				key := base
				if err.Rule >= 0 {
					key = fmt.Sprintf("%s.rules[%d]", base, err.Rule)
					if err.Field != "" {
						key += "." + err.Field
					}
				} else if err.Field != "" {
					key += "." + err.Field
				}
				k.errorf(key, []string{base + ".rules", base}, "%s", err.Msg)
			}
		}
		k.eventTransport(base, s)
	}
}

func (k *checker) eventTransport(base string, s *EventSource) {
	switch {
	case s.Kafka != nil:
		kb := base + ".kafka"
		kf := s.Kafka
		if len(kf.Brokers) == 0 {
			k.errorf(kb+".brokers", []string{kb}, "required: the seed brokers, e.g. [\"127.0.0.1:9092\"]")
		}
		for i, b := range kf.Brokers {
			k.remoteAddr(fmt.Sprintf("%s.brokers[%d]", kb, i), kb+".brokers", b)
		}
		if len(kf.Topics) == 0 || slices.Contains(kf.Topics, "") {
			k.errorf(kb+".topics", []string{kb}, "required: the topics to read, none empty")
		}
		if kf.Start != "" && kf.Start != "latest" && kf.Start != "earliest" {
			k.errorf(kb+".start", nil, "%s", oneOf(kf.Start, []string{"latest", "earliest"}))
		}
		mechs := []string{"", "plain", "scram-sha-256", "scram-sha-512"}
		if !slices.Contains(mechs, strings.ToLower(kf.Mechanism)) {
			k.errorf(kb+".mechanism", nil, "%s", oneOf(kf.Mechanism, mechs[1:]))
		}
		if (kf.Username == "") != (kf.Password == "") {
			k.errorf(kb+".username", []string{kb + ".password"}, "username and password go together")
		}
	case s.NATS != nil:
		nb := base + ".nats"
		k.natsURL(nb+".url", nb, s.NATS.URL)
		if s.NATS.Subject == "" {
			k.errorf(nb+".subject", []string{nb}, "required: the subject to subscribe to, e.g. catalog.>")
		} else if !natsSubject(s.NATS.Subject, true) {
			k.errorf(nb+".subject", nil, "want dot-separated tokens (wildcards * and a last >), got %q", s.NATS.Subject)
		}
	case s.JetStream != nil:
		jb := base + ".jetstream"
		k.natsURL(jb+".url", jb, s.JetStream.URL)
		if s.JetStream.Stream == "" {
			k.errorf(jb+".stream", []string{jb}, "required: the stream's name")
		}
		if st := s.JetStream.Start; st != "" && st != "new" && st != "all" {
			k.errorf(jb+".start", nil, "%s", oneOf(st, []string{"new", "all"}))
		}
		if s.JetStream.AckWait < 0 {
			k.errorf(jb+".ack_wait", nil, "must not be negative (default %s)", DefaultEventAckWait)
		}
	case s.RedisPubSub != nil:
		rb := base + ".redis_pubsub"
		k.redisAddrs(rb, s.RedisPubSub.Addrs)
		if len(s.RedisPubSub.Channels)+len(s.RedisPubSub.Patterns) == 0 {
			k.errorf(rb+".channels", []string{rb}, "required: channels or patterns to subscribe to")
		}
		if slices.Contains(s.RedisPubSub.Channels, "") || slices.Contains(s.RedisPubSub.Patterns, "") {
			k.errorf(rb+".channels", []string{rb + ".patterns"}, "an empty channel or pattern")
		}
	case s.RedisStream != nil:
		rb := base + ".redis_stream"
		k.redisAddrs(rb, s.RedisStream.Addrs)
		if s.RedisStream.Stream == "" {
			k.errorf(rb+".stream", []string{rb}, "required: the stream's key")
		}
		if st := s.RedisStream.Start; st != "" && st != "new" && st != "all" {
			k.errorf(rb+".start", nil, "%s", oneOf(st, []string{"new", "all"}))
		}
		if s.RedisStream.ClaimAfter < 0 {
			k.errorf(rb+".claim_after", nil, "must not be negative (default %s)", DefaultEventClaimAfter)
		}
	}
}

// remoteAddr checks the host:port of a server moat connects to.
func (k *checker) remoteAddr(key, also, a string) {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" {
		k.errorf(key, []string{also}, "want host:port, e.g. 127.0.0.1:6379, got %q", a)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		k.errorf(key, []string{also}, "port %q in %q is not a number from 1 to 65535", port, a)
	}
}

func (k *checker) redisAddrs(base string, addrs []string) {
	if len(addrs) == 0 {
		k.errorf(base+".addrs", []string{base}, "required: the application's Redis, e.g. [\"127.0.0.1:6379\"]")
	}
	for i, a := range addrs {
		k.remoteAddr(fmt.Sprintf("%s.addrs[%d]", base, i), base+".addrs", a)
	}
}

func (k *checker) natsURL(key, also, raw string) {
	if raw == "" {
		k.errorf(key, []string{also}, "required: the NATS server, e.g. nats://127.0.0.1:4222")
		return
	}
	for _, one := range strings.Split(raw, ",") {
		u, err := url.Parse(strings.TrimSpace(one))
		if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
			k.errorf(key, []string{also}, "want nats://host:port (or tls://), comma-separated, got %q", one)
		}
	}
}

// UnmarshalYAML implements yaml.Unmarshaler: a scalar or a list of scalars.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = StringList{n.Value}
		return nil
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("want a value or a list of values")
			}
			out = append(out, c.Value)
		}
		*l = out
		return nil
	}
	return fmt.Errorf("want a value or a list of values")
}

// hasRoute reports whether routes has one whose match is pattern (spaces
// around and between its method and path aside).
func (k *checker) hasRoute(pattern string) bool {
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, r := range k.c.Routes {
		if norm(r.Match) == norm(pattern) {
			return true
		}
	}
	return false
}
