// Package leaktest checks that a test leaves no goroutine running.
package leaktest

import (
	"runtime"
	"testing"
	"time"
)

// Check fails t if, once every later cleanup has run (Close included), more
// goroutines run than when Check was called, after waiting up to 5s for
// them to end. Call it first in a test, so that its cleanup runs last.
// Tests that use it do not run in parallel: the count is process-wide.
func Check(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Errorf("%d goroutines left running (%d before):\n%s", n-before, before, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
}
