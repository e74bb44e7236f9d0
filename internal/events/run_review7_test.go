package events

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/events/mapping"
)

// Regression (review 7): one rule's route that the serving config lacks (a
// typo, or a route removed by a reload) is dead-lettered; the event's tags
// (same purge) and its soft purge (the next one) are still applied.
func TestRejectedRouteKeepsTheEventsOtherPurges(t *testing.T) {
	m, errs := mapping.Compile(mapping.Config{Rules: []mapping.Rule{
		{Tags: []string{"book:{id}"}},
		{Tags: []string{"books"}, Soft: true},
		{Routes: []string{"GET /bookz/{id}"}},
	}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var mu sync.Mutex
	var applied []gateway.Purge
	apply := func(_ context.Context, p gateway.Purge) (gateway.PurgeResult, error) {
		if len(p.Routes) > 0 {
			return gateway.PurgeResult{}, fmt.Errorf("%w: no route %q", gateway.ErrBadPurge, p.Routes[0])
		}
		mu.Lock()
		applied = append(applied, p)
		mu.Unlock()
		return gateway.PurgeResult{}, nil
	}
	r := NewRunner(Options{Apply: apply})
	src := &chanSource{in: make(chan Message), out: make(chan error)}
	r.Add("catalog", "test", m, src)
	r.Start()
	defer r.Close()
	src.in <- Message{Data: []byte(`{"id":1}`), TransportID: "t/0/1"}
	err := <-src.out
	mu.Lock()
	defer mu.Unlock()
	t.Logf("deliver err=%v; applied %d purges; stats %+v", err, len(applied), r.Stats()[0].Dead)
	if len(applied) == 0 {
		t.Errorf("tags book:1 and the soft purge of books were never applied, and the event was acknowledged (err=%v)", err)
	}
}
