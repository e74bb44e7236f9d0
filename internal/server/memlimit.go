package server

import (
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
)

// memLimitBase is the fixed part of the memory limit derived from
// cache.memory (see applyMemoryLimit).
const memLimitBase = 16 << 20

// applyMemoryLimit sets the Go runtime's soft memory limit
// (debug.SetMemoryLimit) from budget, the bytes of cache.memory, so that the
// process stays within 1.5 × budget + 32 MiB of resident memory however the
// cache is filled. It returns the limit set and a function that puts the
// previous limit back (for tests; a serving process keeps it).
//
// Why a limit: Entry.Size accounts the heap a stored entry takes, so the
// live heap is about the budget plus a few MiB of the rest of the process;
// but with the default GOGC=100 the collector lets the heap grow to twice
// the live heap before it runs, and a unique-URL flood settled at 3 × the
// budget of resident memory. With a limit, the collector runs (and the
// scavenger returns memory to the OS) as the runtime's total nears it.
//
// Why 1.4 × budget + 16 MiB: the resident set measured under the floods of
// security/flood is the limit plus 9 to 12 MiB that the runtime does not
// count (the binary's code and data), so the limit must stay under
// 1.5 × budget + 20 MiB; and the live heap, the budget plus the rest of the
// process, must stay well under the limit, or the collector runs all the
// time. The limit leaves 0.4 × budget + 16 MiB of headroom over the budget
// for garbage and for the rest of the process, and 0.1 × budget + 6 MiB
// under the bound for what the runtime does not count. docs/benchmarks.md
// ("Memory bound") has the figures.
//
// If the GOMEMLIMIT environment variable is set, the operator chose a limit:
// the runtime keeps it, and applyMemoryLimit changes nothing and returns 0.
// A budget <= 0 sets nothing either. While the limit is moat's, the
// collector's pace follows the live heap (gcTuner, gctune.go), unless GOGC
// is set in the environment.
//
// Several Servers in one process (tests, an embedding program) share the
// runtime's one limit: it is set from the sum of the budgets of the Servers
// that hold one, and the limit in force before the first is put back when
// the last restores. The runtime setting is process-wide, so this
// bookkeeping is too.
func applyMemoryLimit(budget int64, log *slog.Logger) (limit int64, restore func()) {
	if log == nil {
		log = slog.Default()
	}
	if env := os.Getenv("GOMEMLIMIT"); env != "" {
		log.Info("memory limit left to GOMEMLIMIT", "gomemlimit", env, "cache_memory", budget)
		return 0, func() {}
	}
	if budget <= 0 {
		return 0, func() {}
	}
	memLimits.mu.Lock()
	defer memLimits.mu.Unlock()
	if memLimits.holders == 0 {
		memLimits.prev = debug.SetMemoryLimit(-1)
	}
	memLimits.holders++
	memLimits.budgets += budget
	limit = memLimits.set()
	if memLimits.tuner == nil && memLimits.holders == 1 {
		memLimits.tuner = startGCTuner(memLimits.budgets)
	} else if memLimits.tuner != nil {
		memLimits.tuner.setFloor(memLimits.budgets)
	}
	gc := "GOGC (environment)"
	if memLimits.tuner != nil {
		gc = "tuned (the heap grows by 0.25 × cache.memory + 16 MiB between collections while the cache is small)"
	}
	log.Info("memory limit set from cache.memory", "limit", limit, "cache_memory", budget, "gc", gc)
	var once sync.Once
	return limit, func() {
		once.Do(func() {
			memLimits.mu.Lock()
			defer memLimits.mu.Unlock()
			memLimits.holders--
			memLimits.budgets -= budget
			if memLimits.holders == 0 {
				if memLimits.tuner != nil {
					memLimits.tuner.stop()
					memLimits.tuner = nil
				}
				debug.SetMemoryLimit(memLimits.prev)
				return
			}
			memLimits.set()
			if memLimits.tuner != nil {
				memLimits.tuner.setFloor(memLimits.budgets)
			}
		})
	}
}

// memLimits is the process's share of the runtime memory limit among the
// Servers that set one.
var memLimits memLimitRegistry

type memLimitRegistry struct {
	mu      sync.Mutex
	holders int
	budgets int64    // sum of the holders' budgets
	prev    int64    // the limit before the first holder
	tuner   *gcTuner // paces the collector while the holders hold the limit (gctune.go)
}

// set applies the limit for the current holders' budgets; m.mu is held.
func (m *memLimitRegistry) set() int64 {
	limit := m.budgets + m.budgets/5*2 + memLimitBase // 1.4 × budgets + 16 MiB
	debug.SetMemoryLimit(limit)
	return limit
}
