package redistest

import "github.com/moatproxy/moat/internal/proctest"

// busOffset is how far above its client port a cluster node listens for
// the cluster bus (Redis's default; the cluster-port option is left unset).
const busOffset = 10000

// freePort returns a loopback port that was free a moment ago. With bus,
// port+busOffset was free too (a cluster node binds both). Redis's default
// ports are never returned.
func freePort(bus bool) (int, error) {
	offset := 0
	if bus {
		offset = busOffset
	}
	return proctest.FreePort(offset, 6379, 16379, 26379)
}
