package redisevents

import (
	"context"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/events/eventstest"
)

// waitTimeout bounds every wait of these tests.
const waitTimeout = 15 * time.Second

// appClient is the application's own client of the server at addr.
func appClient(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true})
	if err != nil {
		t.Fatalf("app client: %v", err)
	}
	t.Cleanup(rc.Close)
	return rc
}

// do runs one command of the application and fails the test on error.
func do(t *testing.T, rc rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	r := rc.Do(context.Background(), rc.B().Arbitrary(args[0]).Args(args[1:]...).Build())
	if err := r.Error(); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return r
}

// xadd adds an entry of fields (name, value...) to key and returns its ID.
func xadd(t *testing.T, rc rueidis.Client, key string, fields ...string) string {
	t.Helper()
	id, err := do(t, rc, append([]string{"XADD", key, "*"}, fields...)...).ToString()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// pendingCount is the number of the group's pending entries (XPENDING).
func pendingCount(t *testing.T, rc rueidis.Client, key, group string) int64 {
	t.Helper()
	summary, err := do(t, rc, "XPENDING", key, group).ToArray()
	if err != nil || len(summary) == 0 {
		t.Fatalf("XPENDING %s %s: %v", key, group, err)
	}
	n, err := summary[0].AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitUntil polls cond until it holds, and fails the test after
// waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting until %s", waitTimeout, what)
		case <-tick.C:
		}
	}
}

// start is eventstest.Run.
func start(t *testing.T, src events.Source, deliver events.Deliver) (stop func()) {
	return eventstest.Run(t, src, deliver)
}

// recorder is eventstest.Recorder.
type recorder = eventstest.Recorder
