package events

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff is the wait between attempts of a source (a reconnect, a
// delivery that failed): First, doubling up to Max, each with ±20% jitter
// so that the nodes of a fleet do not retry in step. Reset it after a
// success.
type Backoff struct {
	First, Max time.Duration
	cur        time.Duration
}

// Next returns the next wait.
func (b *Backoff) Next() time.Duration {
	b.cur = min(max(2*b.cur, b.First), b.Max)
	return time.Duration(float64(b.cur) * (0.8 + 0.4*rand.Float64()))
}

// Wait sleeps the next wait, and reports false if ctx ended first.
func (b *Backoff) Wait(ctx context.Context) bool { return Sleep(ctx, b.Next()) }

// Reset starts again from First.
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep waits d, and reports false if ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
