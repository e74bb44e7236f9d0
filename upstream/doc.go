// Package upstream is a pool of origin servers (an nginx "upstream" block, an
// HAProxy backend) that is itself an http.RoundTripper.
//
// Data flow: the gateway's reverse proxy rewrites the request's URL to a
// placeholder that names the pool (for example http://shop-origin/path) and
// hands it to Pool.RoundTrip. The pool picks a member with the configured
// Balance among the usable members, copies the request with the member's
// scheme and host, and sends it with its Transport. The response body is
// wrapped so the member's in-flight count drops when the caller closes the
// body or reads it to the end, which is what LeastConn, Random2 and MaxConns
// measure.
//
// A member leaves the rotation in two ways:
//
//   - Active health checks (HealthCheck) probe each member on a timer started
//     by Pool.Start; Fall consecutive failures mark it "down" and Rise
//     consecutive successes bring it back.
//   - Passive checks (Passive) watch real traffic: MaxFails transport errors or
//     failure statuses within FailTimeout "eject" the member for FailTimeout;
//     then one trial request is let through, which brings it back or ejects it
//     again (nginx's max_fails / fail_timeout).
//
// Backup members take traffic only while no primary member can (every primary
// is down, ejected, or at its MaxConns). When no member at all is usable,
// RoundTrip fails fast with an error wrapping ErrNoHealthy and touches no
// network, so the caller can answer 503 or serve a stale copy.
//
// A request that failed to connect (a dial error: the request never left this
// process) is retried on another member when its body can be replayed. A
// request that may have reached a member is never retried: it may not be
// idempotent.
//
// A Pool is safe for concurrent use. Its goroutines (one per member while
// health checks run) are owned by the Pool and stopped by Close.
package upstream
