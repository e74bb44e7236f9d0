package warm

import (
	"context"
	"math"
	"time"
)

// A pacer is a token bucket kept as a schedule: event n may start at
// base + n/rate. After an idle spell (or a late wake-up) the schedule is
// moved up to now - slack, so at most burst events start at once and a
// timer's lateness is made up instead of lost. Over any run of N events the
// first and last start at least (N-burst)/rate apart: 10,000 requests at
// 500/s take 19.99s or more.
//
// A pacer is used by one goroutine.
type pacer struct {
	perEvent float64 // nanoseconds between events
	slack    time.Duration
	base     time.Time
	n        int64
	timer    *time.Timer
}

// pacerBurstWindow is the time's worth of events that may start at once:
// a wake-up this late is made up for.
const pacerBurstWindow = 10 * time.Millisecond

// newPacer returns a pacer for rate events per second, or nil (no pacing)
// for rate 0.
func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return nil
	}
	perEvent := float64(time.Second) / rate
	burst := max(1, math.Floor(rate*pacerBurstWindow.Seconds()))
	return &pacer{perEvent: perEvent, slack: time.Duration((burst - 1) * perEvent)}
}

// wait returns when the next event may start, or ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	now := time.Now()
	at := p.base.Add(time.Duration(math.Ceil(float64(p.n) * p.perEvent)))
	if earliest := now.Add(-p.slack); p.base.IsZero() || at.Before(earliest) {
		p.base, p.n, at = earliest, 0, earliest
	}
	p.n++
	d := at.Sub(now)
	if d <= 0 {
		return ctx.Err()
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return nil
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	}
}
