package redistest

import (
	"errors"
	"fmt"
	"time"
)

// pollInterval is how often waits re-check a condition.
const pollInterval = 25 * time.Millisecond

// errExited reports that the process being waited for is gone.
var errExited = errors.New("redis-server exited")

// waitFor calls check until it returns nil, and returns nil. It gives up
// with check's last error once timeout has passed, or with errExited as
// soon as done is closed (a nil done never is).
func waitFor(done <-chan struct{}, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("gave up after %v: %w", timeout, err)
		}
		select {
		case <-done:
			return errExited
		case <-tick.C:
		}
	}
}
