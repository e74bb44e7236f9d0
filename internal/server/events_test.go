package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/natstest"
	"github.com/moatproxy/moat/internal/redistest"
)

// eventTransport is a real stream an "application" publishes to: the YAML
// of the source that reads it, and how to publish.
type eventTransport struct {
	name        string
	atLeastOnce bool // a node restarted mid-burst loses nothing
	start       func(t *testing.T, redisAddr string) (source string, publish func(t *testing.T, payload string))
}

var eventTransports = []eventTransport{
	{name: "kafka", atLeastOnce: true, start: func(t *testing.T, _ string) (string, func(*testing.T, string)) {
		// kfake: the Kafka wire protocol, in process (Kafka cannot run
		// here); the source and the producer are real franz-go clients.
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "catalog"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(prod.Close)
		src := fmt.Sprintf(`kafka: {brokers: [%q], topics: [catalog], start: earliest}`, c.ListenAddrs()[0])
		return src, func(t *testing.T, payload string) {
			if err := prod.ProduceSync(context.Background(), &kgo.Record{Topic: "catalog", Value: []byte(payload)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{name: "jetstream", atLeastOnce: true, start: func(t *testing.T, _ string) (string, func(*testing.T, string)) {
		url := startNATS(t)
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "CATALOG", Subjects: []string{"catalog.>"}}); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf(`jetstream: {url: %q, stream: CATALOG, start: all}`, url), func(t *testing.T, payload string) {
			if _, err := js.Publish(context.Background(), "catalog.book", []byte(payload)); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{name: "nats", start: func(t *testing.T, _ string) (string, func(*testing.T, string)) {
		url := startNATS(t)
		nc, err := nats.Connect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return fmt.Sprintf(`nats: {url: %q, subject: "catalog.>", queue: moat}`, url), func(t *testing.T, payload string) {
			if err := nc.Publish("catalog.book", []byte(payload)); err != nil {
				t.Fatal(err)
			}
			nc.Flush()
		}
	}},
	{name: "redis_stream", atLeastOnce: true, start: func(t *testing.T, addr string) (string, func(*testing.T, string)) {
		app := redisClient(t, addr)
		return fmt.Sprintf(`redis_stream: {addrs: [%q], stream: app:catalog, start: all}`, addr), func(t *testing.T, payload string) {
			if err := app.Do(context.Background(), app.B().Xadd().Key("app:catalog").Id("*").FieldValue().FieldValue("data", payload).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{name: "redis_pubsub", start: func(t *testing.T, addr string) (string, func(*testing.T, string)) {
		app := redisClient(t, addr)
		return fmt.Sprintf(`redis_pubsub: {addrs: [%q], channels: [app.catalog]}`, addr), func(t *testing.T, payload string) {
			if err := app.Do(context.Background(), app.B().Publish().Channel("app.catalog").Message(payload).Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
	}},
}

func startNATS(t *testing.T) string {
	return natstest.Start(t, natstest.Options{JetStream: true}).URL()
}

func redisClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestEventSourcesPurgeEveryNode: for each transport, three nodes sharing
// a Redis (L2 and purge bus) read the application's stream; an event
// published by the application removes the tagged entries on all three;
// events that map to nothing or cannot be read are counted and do not
// stop the source; and, for the at-least-once transports, a node
// restarted in the middle of a burst loses no event.
func TestEventSourcesPurgeEveryNode(t *testing.T) {
	for _, tr := range eventTransports {
		t.Run(tr.name, func(t *testing.T) {
			rs := redistest.Standalone(t)
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, r.URL.Path)
			}))
			t.Cleanup(origin.Close)
			source, publish := tr.start(t, rs.Addr)
			start := func(node string) *Server {
				srv, _ := startServer(t, fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: %s}
cache:
  redis: {addrs: [%q], timeout: 200ms, key_prefix: "ev-%s:"}
routes:
  - match: GET /books/{id}
    ttl: 5m
    tags: ["book:{id}"]
events:
  node: %s
  sources:
    - name: catalog
      %s
      rules:
        - when: {type: book}
          tags: ["book:{id}"]
`, origin.URL, rs.Addr, tr.name, node, source))
				return srv
			}
			nodes := []*Server{start("n1"), start("n2"), start("n3")}
			for _, n := range nodes {
				waitUntil(t, "the source connected", func() bool { return sourceStats(n).Status.Connected })
			}
			fill := func(ids ...int) {
				t.Helper()
				for _, n := range nodes {
					for _, id := range ids {
						req := httptest.NewRequest("GET", "http://api.example/books/"+strconv.Itoa(id), nil)
						n.Gateway().ServeHTTP(httptest.NewRecorder(), req)
						if !held(n, id) {
							t.Fatalf("/books/%d not stored", id)
						}
					}
				}
			}
			gone := func(ids ...int) func() bool {
				return func() bool {
					for _, n := range nodes {
						for _, id := range ids {
							if held(n, id) {
								return false
							}
						}
					}
					return true
				}
			}
			fill(1, 2)
			began := time.Now()
			publish(t, `{"type":"book","id":1}`)
			waitUntil(t, "book 1 purged on every node", gone(1))
			t.Logf("%s: an event reached all three nodes in %v", tr.name, time.Since(began).Round(time.Millisecond))
			if !held(nodes[0], 2) {
				t.Fatal("book 2 was purged too")
			}

			publish(t, `{"type":"author","id":9}`)
			publish(t, `not json`)
			began = time.Now()
			publish(t, `{"type":"book","id":2}`)
			waitUntil(t, "book 2 purged on every node", gone(2))
			t.Logf("%s: the next event in %v", tr.name, time.Since(began).Round(time.Millisecond))
			waitUntil(t, "dead letters counted", func() bool {
				var unmapped, parse int64
				for _, n := range nodes {
					st := sourceStats(n)
					unmapped += st.Dead["unmapped"]
					parse += st.Dead["parse"]
				}
				return unmapped >= 1 && parse >= 1
			})

			if !tr.atLeastOnce {
				return
			}
			const burst = 60
			ids := make([]int, burst)
			for i := range ids {
				ids[i] = 100 + i
			}
			fill(ids...)
			appliedBy := func(ns ...*Server) (n int64) {
				for _, s := range ns {
					n += sourceStats(s).Applied
				}
				return n
			}
			before := appliedBy(nodes...)
			var gone1 int64 // what the first n1 applied, before it stopped
			for i, id := range ids {
				if i == burst/3 {
					// A clean restart of n1 in the middle: what it read
					// and applied is committed, the rest is read again
					// by n1 or the others.
					nodes[0].Shutdown(context.Background())
					gone1 = sourceStats(nodes[0]).Applied
					nodes[0] = start("n1")
				}
				publish(t, fmt.Sprintf(`{"type":"book","id":%d}`, id))
			}
			waitUntil(t, "every event of the burst applied", gone(ids...))
			// Each event was applied by the one node that read it (the
			// others heard its purge on the bus); one the restart handed
			// to another node is a duplicate there, not applied again.
			waitUntil(t, "the burst counted", func() bool { return gone1+appliedBy(nodes...)-before >= burst })
			if got := gone1 + appliedBy(nodes...) - before; got != burst {
				t.Errorf("events of the burst applied %d times, want %d", got, burst)
			}
		})
	}
}

// held reports whether n holds /books/id (its tag in the index).
func held(n *Server, id int) bool {
	return len(n.tags.Keys("book:"+strconv.Itoa(id))) > 0
}

func sourceStats(n *Server) events.SourceStats {
	st := n.events.Stats()
	return st[0]
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
