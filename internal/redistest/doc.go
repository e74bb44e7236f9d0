// Package redistest starts real redis-server processes for tests: a
// standalone server ([Standalone]), a Sentinel setup of one master, one
// replica and three sentinels ([StartSentinel]), or a Redis Cluster of n
// masters ([StartCluster]).
//
// Every server belongs to the test that started it. It listens on a free
// loopback port (never 6379, never a shared instance), keeps its files in a
// t.TempDir, and is killed by PID when the test ends, so that tests can kill,
// freeze and restart servers to provoke the failures a Redis client must
// survive. Other redis-server processes on the machine are never touched.
//
// The binaries come from PATH (Debian: apt-get install redis-server
// redis-tools; sentinels run as redis-server --sentinel, no redis-sentinel
// binary is needed). Without them every constructor skips the test, or fails
// it when $CI is true, so that CI cannot pass by skipping ([Require]).
//
// A server is ready when it answers PING on its port and INFO reports its
// own PID: a port picked free can be taken by another process before
// redis-server binds it, and then the start is retried on another port.
// Readiness, replication, sentinel discovery and cluster state are polled
// with deadlines, never slept for.
//
// Each server's stdout and stderr go to redis.log in its Dir. A failed start
// reports the tail of that log, and when a test fails the tails of all its
// servers' logs are written to the test log.
package redistest
