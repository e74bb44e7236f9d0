// Package fleettest proves that a fleet of real `moat serve` processes shares
// one Redis L2 (cache.redis) as docs/architecture.md ("Two levels") says: an
// answer filled through one node is a hit on the others, every purge and every
// write reaches every node through the purge bus, one cold key or one stale
// key costs the origin one request for the whole fleet, and a Redis that is
// killed, restarted or frozen costs no answer and no tail latency beyond the
// configured timeout. It has no non-test code; run it with
//
//	go test -race -count=1 ./fleettest
//
// TestMain builds cmd/moat once, without -race (the race detector applies to
// the test process, which drives the load and checks every answer). Each test
// starts its own Redis with internal/redistest (standalone, or a 3-master
// Cluster), its own origin (an httptest.Server in the test process that counts
// every request by method and URI and changes its body on every hit), and
// three `moat serve` child processes on loopback, each with its own YAML
// config and log file, killed by PID when the test ends. Every request
// carries the same Host, as behind a load balancer, and every wait is a poll
// with a deadline.
//
// The scenarios, one test each:
//
//	shared_test.go   an L2 fill is a hit on the other nodes; purges of every kind
//	                 made through one node and writes (RFC 9111 §4.4) made
//	                 through another reach every node (standalone and Cluster)
//	load_test.go     a stampede on one cold key and concurrent requests for one
//	                 stale key each cost the origin one request for the fleet,
//	                 and so do requests for a stale key made node after node
//	faults_test.go   Redis killed and restarted, or frozen, under load: no 5xx,
//	                 bounded latency, L2 back after the restart; a purge made
//	                 while Redis was frozen reaches the other nodes after it
//	                 thaws; a lease call that timed out does not stall the
//	                 other nodes
//
// Helpers that read a node's state without changing it use its admin API:
// /api/inspect (what the node holds for a URL, fresh or not: a request would
// start a refresh) and /metrics (its L2, lease, bus and Redis counters, which
// failure messages include).
package fleettest
