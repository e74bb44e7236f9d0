// Package eventstest helps test event sources: a Deliver that records what
// it is given, and a way to run a source for the length of a test.
package eventstest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/events"
)

// StopWithin is how long Run's stop waits for the source to return.
const StopWithin = 20 * time.Second

// Run runs src with deliver until stop is called (or the test ends), and
// stop fails the test unless Run returns nil within StopWithin.
func Run(t testing.TB, src events.Source, deliver events.Deliver) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, deliver) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v, want nil after its context ended", err)
				}
			case <-time.After(StopWithin):
				t.Errorf("Run did not return %v after its context ended", StopWithin)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// Recorder is a Deliver (its Deliver method) that keeps every message.
// The zero value is ready.
type Recorder struct {
	mu   sync.Mutex
	msgs []events.Message
}

// Deliver records m and returns nil.
func (r *Recorder) Deliver(_ context.Context, m events.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

// Len is how many messages were delivered.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// Messages returns the messages delivered, in order.
func (r *Recorder) Messages() []events.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Data returns the payloads delivered, in order.
func (r *Recorder) Data() []string {
	var out []string
	for _, m := range r.Messages() {
		out = append(out, string(m.Data))
	}
	return out
}

// IDs returns the TransportIDs delivered, in order.
func (r *Recorder) IDs() []string {
	var out []string
	for _, m := range r.Messages() {
		out = append(out, m.TransportID)
	}
	return out
}
