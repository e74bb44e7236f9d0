package redisevents

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/redistest"
)

// TestStopsCleanly checks that Run returns promptly once its context ends,
// even while it waits in a blocking read, and leaves no goroutine behind.
func TestStopsCleanly(t *testing.T) {
	srv := redistest.Standalone(t)
	for _, tc := range []struct {
		name string
		src  func(t *testing.T) events.Source
	}{
		{"pubsub", func(t *testing.T) events.Source { return newTestPubSub(t, srv.Addr, []string{"c"}, []string{"p.*"}) }},
		{"stream", func(t *testing.T) events.Source {
			// The default ClaimAfter: XREADGROUP blocks for its longest.
			s := newTestStream(t, srv.Addr, "stop", "n1", func(c *config.RedisStreamSource) { c.ClaimAfter = 0 })
			if s.block != streamBlockMax {
				t.Fatalf("block %v, want %v", s.block, streamBlockMax)
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			src := tc.src(t)
			var rec recorder
			stop := start(t, src, rec.Deliver)
			waitUntil(t, "reading", func() bool {
				list := srv.Do(t, "CLIENT", "LIST")
				return strings.Contains(list, "cmd=xreadgroup") || strings.Contains(list, "cmd=psubscribe")
			})
			began := time.Now()
			stop()
			if took := time.Since(began); took > time.Second {
				t.Errorf("Run took %v to return after its context ended", took)
			}
			if src.Status().Connected {
				t.Errorf("Connected after Run returned")
			}
			waitUntil(t, "goroutines back to their number before Run", func() bool { return runtime.NumGoroutine() <= before })
		})
	}
}
