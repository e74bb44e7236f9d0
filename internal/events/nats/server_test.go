package nats

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/natstest"
)

// startServer starts a real nats-server with JetStream (natstest).
func startServer(t *testing.T) *natstest.Server {
	return natstest.Start(t, natstest.Options{JetStream: true})
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
}

// run starts src.Run and returns a stop func (also run at cleanup) that
// cancels it, waits for Run to return and checks it returned nil.
func run(t *testing.T, src events.Source, deliver events.Deliver) (stop func()) {
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
					t.Errorf("Run returned %v, want nil after cancel", err)
				}
			case <-time.After(20 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// recorder collects delivered messages.
type recorder struct {
	mu   sync.Mutex
	msgs []events.Message
}

func (r *recorder) deliver(_ context.Context, m events.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	return nil
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) all() []events.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Message(nil), r.msgs...)
}

func TestRunRejectsMalformedURL(t *testing.T) {
	c, err := NewCore(configNATS("nats://[::1", "x"), "src", nil)
	if err != nil {
		t.Fatalf("NewCore: %v", err)
	}
	if err := c.Run(context.Background(), (&recorder{}).deliver); !errors.Is(err, ErrConfig) {
		t.Errorf("Run = %v, want ErrConfig", err)
	}
}
