package server

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		live, floor int64
		want        int
	}{
		{8 * mib, 80 * mib, 1000},  // a small cache: the heap may grow by the floor
		{40 * mib, 80 * mib, 200},  //
		{80 * mib, 80 * mib, 100},  // live reached the floor: GOGC's default
		{300 * mib, 80 * mib, 100}, // a full cache: never below 100, the limit paces
		{4 * mib, 80 * mib, 2000},  // capped
		{1 * mib, 24 * mib, 600},   // under 4 MiB: the runtime's minimum goal (4 MiB × 6) is the floor
		{0, 24 * mib, 600},         // nothing read yet
	}
	for _, tt := range tests {
		if got := gcPercentFor(tt.live, tt.floor); got != tt.want {
			t.Errorf("gcPercentFor(%d MiB, %d MiB) = %d, want %d", tt.live/mib, tt.floor/mib, got, tt.want)
		}
	}
	// The heap's goal stays under the memory limit for a live heap up to the
	// budget and a bit more, so the resident bound holds.
	for _, budget := range []int64{1 * mib, 32 * mib, 256 * mib, 4096 * mib} {
		limit := budget + budget/5*2 + memLimitBase
		for _, live := range []int64{mib, budget / 2, budget, budget + budget/10} {
			p := int64(gcPercentFor(live, gcFloor(budget)))
			goal := max(live+live*p/100, runtimeHeapMinimum*p/100) // the runtime's goal
			if live < gcFloor(budget) && goal > live+gcFloor(budget)+live/50 {
				t.Errorf("budget %d MiB, live %d: goal %d exceeds live + floor", budget/mib, live, goal)
			}
			if live+gcFloor(budget) > limit && live <= budget {
				t.Errorf("budget %d MiB, live %d: live + floor %d over the limit %d", budget/mib, live, live+gcFloor(budget), limit)
			}
		}
	}
}

// gogc reads the collector's GOGC without changing it.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// TestGCTunerFollowsTheLiveHeap starts a tuner with the memory limit and
// checks that after a collection GOGC is what the live heap calls for, and
// that the previous GOGC is back when the last limit holder stops.
func TestGCTunerFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	before := debug.SetGCPercent(75)
	defer debug.SetGCPercent(before)

	_, restore := applyMemoryLimit(256<<20, slog.New(slog.DiscardHandler))
	// The test binary's live heap is a few MiB: far below the floor of
	// 80 MiB, so the tuned GOGC is well above 100. Poll: the tuning runs
	// on the runtime's cleanup goroutine after the cycle.
	deadline := time.Now().Add(10 * time.Second)
	for gogc() <= 100 && time.Now().Before(deadline) {
		runtime.GC()
		runtime.Gosched()
	}
	got := gogc()
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(live)
	if want := gcPercentFor(int64(live[0].Value.Uint64()), gcFloor(256<<20)); got <= 100 || got > maxGCPercent {
		t.Fatalf("GOGC = %d after collections with a live heap of %d bytes, want about %d", got, live[0].Value.Uint64(), want)
	}
	restore()
	if got := gogc(); got != 75 {
		t.Errorf("after the last holder stopped, GOGC = %d, want the 75 in force before", got)
	}
	// A stopped tuner does not come back after later cycles.
	runtime.GC()
	runtime.GC()
	if got := gogc(); got != 75 {
		t.Errorf("after further collections, GOGC = %d, want 75", got)
	}
}

func TestGCTunerLeavesGOGC(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "50")
	before := debug.SetGCPercent(50)
	defer debug.SetGCPercent(before)
	_, restore := applyMemoryLimit(256<<20, slog.New(slog.DiscardHandler))
	defer restore()
	if memLimits.tuner != nil {
		t.Fatal("a tuner started although GOGC is set")
	}
	runtime.GC()
	if got := gogc(); got != 50 {
		t.Errorf("GOGC = %d, want the environment's 50 left alone", got)
	}
}
