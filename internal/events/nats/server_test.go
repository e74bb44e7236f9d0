package nats

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/internal/events"
)

// testServer is a real nats-server with JetStream, in process, on a random
// loopback port that stays the same across restarts.
type testServer struct {
	t    *testing.T
	opts *server.Options
	s    *server.Server
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ts := &testServer{t: t, opts: &server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true}}
	ts.start()
	ts.opts.Port = ts.s.Addr().(*net.TCPAddr).Port
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) start() {
	ts.t.Helper()
	s, err := server.NewServer(ts.opts)
	if err != nil {
		ts.t.Fatalf("nats-server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		ts.t.Fatal("nats-server not ready")
	}
	ts.s = s
}

func (ts *testServer) stop() {
	if ts.s != nil {
		ts.s.Shutdown()
		ts.s.WaitForShutdown()
		ts.s = nil
	}
}

func (ts *testServer) restart() {
	ts.t.Helper()
	ts.stop()
	ts.start()
}

func (ts *testServer) url() string {
	return "nats://" + net.JoinHostPort(ts.opts.Host, strconv.Itoa(ts.opts.Port))
}

// client is the application's connection, closed when the test ends.
func (ts *testServer) client(t *testing.T) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(ts.url(), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
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
