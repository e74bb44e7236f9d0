package hotkeys

import (
	"context"
	"log/slog"
	"time"
)

// DefaultWriteInterval is Run's interval when it is given none.
const DefaultWriteInterval = time.Minute

// Run writes the n hottest keys to path every interval (DefaultWriteInterval
// if ≤ 0) until ctx ends, then once more, and returns: the last write is the
// shutdown write, so the owner must wait for Run to return before the
// process exits. A failed write is logged and counted (Stats.WriteErrors),
// never fatal; the next tick tries again. log may be nil.
func (t *Tracker) Run(ctx context.Context, path string, n int, interval time.Duration, log *slog.Logger) {
	if t == nil {
		return
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = DefaultWriteInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	write := func(why string) {
		if err := t.WriteFile(path, n); err != nil {
			log.Error("hot keys not saved", "path", path, "when", why, "err", err)
			return
		}
		log.Debug("hot keys saved", "path", path, "when", why)
	}
	for {
		select {
		case <-ctx.Done():
			write("shutdown")
			return
		case <-tick.C:
			write("periodic")
		}
	}
}
