package nats

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/events/eventstest"
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

// run is eventstest.Run.
func run(t *testing.T, src events.Source, deliver events.Deliver) (stop func()) {
	return eventstest.Run(t, src, deliver)
}

func TestRunRejectsMalformedURL(t *testing.T) {
	c, err := NewCore(configNATS("nats://[::1", "x"), "src", nil)
	if err != nil {
		t.Fatalf("NewCore: %v", err)
	}
	if err := c.Run(context.Background(), (&recorder{}).Deliver); !errors.Is(err, ErrConfig) {
		t.Errorf("Run = %v, want ErrConfig", err)
	}
}

// recorder is eventstest.Recorder.
type recorder = eventstest.Recorder
