package redistest

import (
	"errors"
	"net"
	"strconv"
)

// busOffset is how far above its client port a cluster node listens for
// the cluster bus (Redis's default; the cluster-port option is left unset).
const busOffset = 10000

// freePort returns a loopback port that was free a moment ago. With bus,
// port+busOffset was free too (a cluster node binds both). Redis's default
// ports are never returned, so that a test cannot talk to a developer's own
// server by mistake.
//
// WARNING: the port is closed again before it is returned, so another
// process can take it before redis-server binds it; callers retry on
// errPortTaken.
func freePort(bus bool) (int, error) {
	for range 100 {
		port, err := listenBriefly(0)
		if err != nil {
			return 0, err
		}
		if port == 6379 || port == 16379 || port == 26379 {
			continue
		}
		if !bus {
			return port, nil
		}
		if port+busOffset > 65535 {
			continue
		}
		if _, err := listenBriefly(port + busOffset); err == nil {
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port (with a free cluster bus port) after 100 tries")
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
