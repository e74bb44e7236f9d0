package proctest

import (
	"errors"
	"net"
	"strconv"
	"testing"
)

// ErrPortTaken reports that a server could not bind the port it was given:
// another process took it after FreePort found it free. OnFreePort tries
// another port on it.
var ErrPortTaken = errors.New("port taken before the server bound it")

// startAttempts is how many ports OnFreePort tries when other processes
// take the free port first.
const startAttempts = 5

// FreePort returns a loopback port that was free a moment ago and is none
// of avoid (a server's default ports, so that a test cannot talk to a
// developer's own server by mistake). With offset > 0, port+offset was free
// too (a Redis Cluster node binds its bus port there).
//
// WARNING: the port is closed again before it is returned, so another
// process can take it before the server binds it; OnFreePort retries.
func FreePort(offset int, avoid ...int) (int, error) {
	for range 100 {
		port, err := listenBriefly(0)
		if err != nil {
			return 0, err
		}
		taken := false
		for _, a := range avoid {
			taken = taken || port == a || (offset > 0 && port+offset == a)
		}
		if taken {
			continue
		}
		if offset == 0 {
			return port, nil
		}
		if port+offset > 65535 {
			continue
		}
		if _, err := listenBriefly(port + offset); err == nil {
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port after 100 tries")
}

// listenBriefly listens on 127.0.0.1:port (0 picks one), closes, and
// returns the port it had.
func listenBriefly(port int) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// OnFreePort calls start with a port from free until start succeeds, and
// fails t when free fails, when start fails otherwise than with
// ErrPortTaken, or after startAttempts ports. name prefixes its messages.
func OnFreePort(t testing.TB, name string, free func() (int, error), start func(port int) error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port, err := free()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		err = start(port)
		if err == nil {
			return
		}
		if !errors.Is(err, ErrPortTaken) || attempt == startAttempts {
			t.Fatal(err)
		}
		t.Logf("%s: port %d was taken before the server bound it; trying another", name, port)
	}
}
