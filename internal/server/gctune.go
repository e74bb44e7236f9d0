package server

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// The collector's pace (GOGC) follows the live heap while the cache is far
// from its budget.
//
// With the default GOGC=100 the collector runs each time the heap doubles.
// A gateway whose cache is still small (a few MiB of hot entries under a
// 256 MiB budget) then collects many times a second: net/http allocates a
// few KiB per request, so at 40,000 hits/s an 8 MiB heap is collected
// every 100 to 200 ms, and each cycle takes a share of the one core and
// delays the requests it meets (mark assists, the fractional mark worker),
// which is where a hit's p99 comes from. The memory limit already bounds the
// process (applyMemoryLimit), so nothing is gained by collecting that often.
//
// gcTuner lets the heap grow by at least a floor before the next cycle: a
// quarter of the budget plus 16 MiB. After every cycle it sets GOGC to
// 100 × floor / live heap (at least 100, at most maxGCPercent): a small
// heap is collected rarely, and once the live heap exceeds the floor (a
// full cache) GOGC is back at 100 and the memory limit paces the
// collector, as before. The heap's goal is then at most
// live + 0.25 × budget + 16 MiB, under the limit of 1.4 × budget + 16 MiB
// for any live heap up to 1.15 × budget, so the resident bound of
// applyMemoryLimit holds.
//
// The tuner runs only while moat set the memory limit itself: a GOGC or
// GOMEMLIMIT in the environment is the operator's choice and wins.

// maxGCPercent caps the tuned GOGC: with an almost empty heap (a process
// that just started) the floor over the live heap would otherwise be
// thousands of times it.
const maxGCPercent = 2000

// runtimeHeapMinimum is the Go runtime's smallest heap goal at GOGC=100
// (heapMinimum in runtime/mgcpacer.go); it scales with GOGC.
const runtimeHeapMinimum = 4 << 20

// gcPercentFor is the GOGC that lets a heap of live bytes grow by floor
// bytes before the next collection: within [100, maxGCPercent].
//
// The runtime never sets a heap goal under 4 MiB × GOGC/100, so a live heap
// under 4 MiB is counted as 4 MiB: the goal is then the floor, not a
// multiple of it.
func gcPercentFor(live, floor int64) int {
	live = max(live, runtimeHeapMinimum)
	p := floor * 100 / live
	return int(min(max(p, 100), maxGCPercent))
}

// gcFloor is the growth the tuner allows a heap for budgets, the bytes of
// cache.memory of the Servers holding the memory limit.
func gcFloor(budgets int64) int64 { return budgets/4 + 16<<20 }

// gcTuner re-reads the live heap after each collection and sets GOGC. It
// starts and stops with the memory limit (memLimits); its own lock orders
// the tuning, which runs on the runtime's cleanup goroutine, against
// setFloor and stop.
type gcTuner struct {
	mu      sync.Mutex // orders tune against stop
	floor   int64
	stopped bool
	prev    int // GOGC before the tuner started
	percent int // last GOGC set
	sample  []metrics.Sample
}

// startGCTuner starts a tuner for budgets, or returns nil when GOGC is set
// in the environment.
func startGCTuner(budgets int64) *gcTuner {
	if os.Getenv("GOGC") != "" {
		return nil
	}
	t := &gcTuner{floor: gcFloor(budgets), sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.prev = debug.SetGCPercent(100)
	t.percent = 100
	t.tune()
	return t
}

// setFloor changes the floor (a Server started or stopped); the next
// collection applies it.
func (t *gcTuner) setFloor(budgets int64) {
	t.mu.Lock()
	t.floor = gcFloor(budgets)
	t.mu.Unlock()
}

// stop ends the tuning and puts back the GOGC in force before it.
func (t *gcTuner) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stopped = true
	debug.SetGCPercent(t.prev)
}

// tune sets GOGC from the live heap the last collection left, then asks to
// be called again after the next one: a cleanup on an object nothing
// refers to runs once the collector has found it unreachable.
func (t *gcTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live := int64(t.sample[0].Value.Uint64())
		if p := gcPercentFor(live, t.floor); p != t.percent {
			debug.SetGCPercent(p)
			t.percent = p
		}
	}
	runtime.AddCleanup(&gcSentinel{}, func(t *gcTuner) { t.tune() }, t)
}

// gcSentinel is the object whose collection marks the end of a cycle. It
// holds a pointer so that it is not batched by the tiny allocator, whose
// blocks outlive their objects.
type gcSentinel struct {
	_ *byte
	_ [8]byte
}
