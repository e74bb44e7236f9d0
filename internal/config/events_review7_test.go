package config

import "testing"

// Regression (review 7): each of these configs is refused with its key,
// not left to fail when the server runs.
func TestEventAndMemcachedValidation(t *testing.T) {
	for _, tt := range []struct{ name, in string }{
		{"memcached_duplicate_server", "cache:\n  memcached:\n    servers: [\"h:11211\", \"h:11211\"]\n"},
		{"memcached_prefix_not_ascii", "cache:\n  memcached:\n    servers: [\"h:11211\"]\n    key_prefix: \"caché:\"\n"},
		{"memcached_prefix_control", "cache:\n  memcached:\n    servers: [\"h:11211\"]\n    key_prefix: \"a\\x01:\"\n"},
		{"event_rule_route_unknown", "routes:\n  - match: GET /books/{id}\n    ttl: 1m\nevents:\n  sources:\n    - name: cat\n      nats: {url: \"nats://h:4222\", subject: cat}\n      rules:\n        - routes: [\"GET /bookz/{id}\"]\n"},
		{"events_dedupe_huge", "events:\n  dedupe: 2000000000\n  sources:\n    - name: cat\n      nats: {url: \"nats://h:4222\", subject: cat}\n      rules:\n        - tags: [x]\n"},
		{"redis_pubsub_empty_channel", "events:\n  sources:\n    - name: cat\n      redis_pubsub: {addrs: [\"h:6379\"], channels: [\"\"]}\n      rules:\n        - tags: [x]\n"},
		{"nats_bus_subject_empty_token", "cache:\n  nats_bus:\n    url: nats://h:4222\n    subject: \"moat..purges\"\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.in), "moat.yaml"); err == nil {
				t.Errorf("validates:\n%s", tt.in)
			}
		})
	}
}
