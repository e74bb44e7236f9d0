package redistest

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"github.com/moatproxy/moat/internal/proctest"
)

func TestSpawnReportsPortTaken(t *testing.T) {
	Require(t)
	t.Parallel()
	other := Standalone(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	tests := []struct {
		name string
		port int
	}{
		{"by_a_listener", l.Addr().(*net.TCPAddr).Port},
		{"by_another_redis", other.Port}, // answers PING, but with its own PID
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(tt.port)), Port: tt.port, Dir: dir, args: baseArgs(tt.port, dir)}
			if err := s.spawn(); !errors.Is(err, errPortTaken) {
				s.Kill()
				t.Fatalf("spawn on a taken port: %v, want errPortTaken", err)
			}
		})
	}
}

func TestCleanupKillsServer(t *testing.T) {
	Require(t)
	t.Parallel()
	var p *proctest.Process
	t.Run("owner", func(t *testing.T) {
		s := Standalone(t)
		p = s.proc
	})
	if p == nil {
		t.Fatal("no server started")
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("redis-server outlived the test that started it")
	}
}

func TestFreePortLeavesRoomForTheBus(t *testing.T) {
	for range 20 {
		port, err := freePort(true)
		if err != nil {
			t.Fatal(err)
		}
		if port+busOffset > 65535 {
			t.Fatalf("freePort(true) = %d: bus port %d is out of range", port, port+busOffset)
		}
	}
}
