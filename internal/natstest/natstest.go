// Package natstest runs a real nats-server for tests: the server's own Go
// module, started in process on a free loopback port (never 4222), with
// JetStream on request. The port stays the same across Stop and Start, so
// clients reconnect to a restarted server as they would in production.
package natstest

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	natsgo "github.com/nats-io/nats.go"
)

// Options are what a test may ask of the server.
type Options struct {
	// JetStream turns JetStream on, with its store in a temporary
	// directory that survives restarts of the server.
	JetStream bool
	// MaxPayload raises the largest message the server takes (default
	// 1 MiB), for tests that send larger ones on purpose.
	MaxPayload int32
}

// Server is a running (or stopped) nats-server.
type Server struct {
	t    testing.TB
	opts *server.Options
	s    *server.Server
}

// Start starts a server and stops it when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPayload: o.MaxPayload}
	if o.JetStream {
		opts.JetStream, opts.StoreDir = true, t.TempDir()
	}
	s := &Server{t: t, opts: opts}
	s.Start()
	opts.Port = s.s.Addr().(*net.TCPAddr).Port // the same one after a restart
	t.Cleanup(s.Stop)
	return s
}

// Start starts the server again after Stop (a no-op if it runs).
func (s *Server) Start() {
	s.t.Helper()
	if s.s != nil {
		return
	}
	srv, err := server.NewServer(s.opts)
	if err != nil {
		s.t.Fatalf("natstest: %v", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		s.t.Fatal("natstest: nats-server not ready after 10s")
	}
	s.s = srv
}

// Stop shuts the server down and waits until it is.
func (s *Server) Stop() {
	if s.s != nil {
		s.s.Shutdown()
		s.s.WaitForShutdown()
		s.s = nil
	}
}

// Restart stops the server and starts it on the same port (and store).
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// URL is the server's nats:// URL.
func (s *Server) URL() string {
	return "nats://" + net.JoinHostPort(s.opts.Host, strconv.Itoa(s.opts.Port))
}

// Client returns a connection (reconnecting forever) as an application
// would hold, closed when t ends.
func (s *Server) Client(t testing.TB) *natsgo.Conn {
	t.Helper()
	nc, err := natsgo.Connect(s.URL(), natsgo.MaxReconnects(-1), natsgo.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("natstest: connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
