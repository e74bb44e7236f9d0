package kafka

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
)

// TestGroups runs two nodes: sharing the group, they split the events;
// with per_node groups, each reads them all.
func TestGroups(t *testing.T) {
	const topic, partitions, n = "catalog", 4, 200
	tests := []struct {
		name    string
		perNode bool
		// wantEach is how many events each node gets; 0: some, with the
		// two adding up to n.
		wantEach int
	}{
		{name: "fleet", perNode: false},
		{name: "per_node", perNode: true, wantEach: n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, partitions, topic)
			edit := func(k *config.KafkaSource) { k.PerNode = tt.perNode }
			a := newSource(t, c, "catalog", "a", edit, topic)
			b := newSource(t, c, "catalog", "b", edit, topic)
			var gotA, gotB recorder
			start(t, a, gotA.Deliver)
			start(t, b, gotB.Deliver)
			want := partitions // per node
			if !tt.perNode {
				want = partitions / 2 // cooperative-sticky splits them evenly
			}
			waitFor(t, "both nodes assigned", func() bool {
				return assigned(a) == want && assigned(b) == want && a.Status().Connected && b.Status().Connected
			})

			produce(t, newProducer(t, c), spread(topic, n, partitions)...)
			total := n
			if tt.perNode {
				total = 2 * n
			}
			waitFor(t, "every event", func() bool { return gotA.Len()+gotB.Len() >= total })

			for node, got := range map[string]*recorder{"a": &gotA, "b": &gotB} {
				seen := count(got.Messages())
				for id, k := range seen {
					if k != 1 {
						t.Errorf("node %s got %s %d times, want once", node, id, k)
					}
				}
				if tt.wantEach > 0 && len(seen) != tt.wantEach {
					t.Errorf("node %s got %d events, want %d", node, len(seen), tt.wantEach)
				}
			}
			if !tt.perNode {
				union := count(append(gotA.Messages(), gotB.Messages()...))
				if len(union) != n || gotA.Len()+gotB.Len() != n {
					t.Errorf("nodes got %d + %d events, %d distinct, want %d in all, each once", gotA.Len(), gotB.Len(), len(union), n)
				}
				if gotA.Len() == 0 || gotB.Len() == 0 {
					t.Errorf("nodes got %d and %d events, want both some", gotA.Len(), gotB.Len())
				}
			}
		})
	}
}

// TestRebalanceHandover starts a second node while the first is in the
// middle of a backlog (failing, so backing off, so letting the rebalance
// through): the partitions it hands over are committed up to what it
// applied, and the two apply every event once.
func TestRebalanceHandover(t *testing.T) {
	const topic, partitions, n, first = "catalog", 4, 200, 10
	c := newCluster(t, partitions, topic)
	produce(t, newProducer(t, c), spread(topic, n, partitions)...)

	a := newSource(t, c, "catalog", "a", nil, topic)
	b := newSource(t, c, "catalog", "b", nil, topic)
	var gotA, gotB recorder
	// a applies the first events of every partition, then fails the
	// others until b holds partitions.
	deliverA := func(ctx context.Context, m events.Message) error {
		var p int32
		var off int64
		if _, err := fmt.Sscanf(m.TransportID, topic+"/%d/%d", &p, &off); err != nil {
			t.Errorf("TransportID %q: %v", m.TransportID, err)
		}
		if off >= first && assigned(b) == 0 {
			return errors.New("not yet")
		}
		return gotA.Deliver(ctx, m)
	}
	start(t, a, deliverA)
	waitFor(t, "node a stuck", func() bool { return gotA.Len() == partitions*first })
	start(t, b, gotB.Deliver)
	waitFor(t, "every event", func() bool { return gotA.Len()+gotB.Len() >= n })

	union := count(append(gotA.Messages(), gotB.Messages()...))
	for id, k := range union {
		if k != 1 {
			t.Errorf("%s applied %d times, want once", id, k)
		}
	}
	if len(union) != n || gotB.Len() == 0 {
		t.Errorf("nodes applied %d + %d events, %d distinct, want %d, b some", gotA.Len(), gotB.Len(), len(union), n)
	}
}
