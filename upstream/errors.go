package upstream

import "errors"

// ErrNoHealthy is wrapped by the error RoundTrip returns when every member is
// down (failing its health checks) or ejected (by passive checks). No network
// was touched; callers answer 503 or serve stale.
var ErrNoHealthy = errors.New("upstream: no healthy member")

// ErrBusy is wrapped by the error RoundTrip returns when some members are
// healthy but every one of them is at its Member.MaxConns. No network was
// touched; callers answer 503 with a short Retry-After.
var ErrBusy = errors.New("upstream: every healthy member at MaxConns")
