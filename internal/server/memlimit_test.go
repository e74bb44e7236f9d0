package server

import (
	"bytes"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
)

// These tests change a process-wide setting and the environment, so they
// do not run in parallel (t.Setenv enforces it).

func TestApplyMemoryLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	tests := []struct {
		name   string
		budget int64
		want   int64
	}{
		{"default_256MiB", 256 << 20, 256<<20*7/5 + 16<<20},
		{"smallest_1MiB", 1 << 20, 1<<20*7/5 + 16<<20},
		{"32MiB", 32 << 20, 32<<20*7/5 + 16<<20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			limit, restore := applyMemoryLimit(tt.budget, slog.New(slog.NewTextHandler(&logs, nil)))
			defer restore()
			if limit != tt.want {
				t.Errorf("limit = %d, want %d", limit, tt.want)
			}
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("runtime memory limit = %d, want %d", got, tt.want)
			}
			// The bound the limit is chosen for: 1.5 × budget + 32 MiB of
			// resident memory, less up to 12 MiB the runtime does not count.
			if bound := tt.budget*3/2 + 32<<20 - 12<<20; limit > bound {
				t.Errorf("limit %d leaves less than 12 MiB under 1.5 × budget + 32 MiB", limit)
			}
			if !strings.Contains(logs.String(), "memory limit set from cache.memory") {
				t.Errorf("log = %q, want the limit logged", logs.String())
			}
		})
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("after restore, runtime memory limit = %d, want %d", got, before)
	}
}

func TestApplyMemoryLimitLeavesGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	var logs bytes.Buffer
	limit, restore := applyMemoryLimit(256<<20, slog.New(slog.NewTextHandler(&logs, nil)))
	defer restore()
	if limit != 0 {
		t.Errorf("limit = %d with GOMEMLIMIT set, want 0", limit)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("runtime memory limit = %d, want it left at %d", got, before)
	}
	if !strings.Contains(logs.String(), "GOMEMLIMIT") {
		t.Errorf("log = %q, want GOMEMLIMIT named", logs.String())
	}
}

func TestApplyMemoryLimitNoBudget(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	limit, restore := applyMemoryLimit(0, slog.New(slog.DiscardHandler))
	defer restore()
	if got := debug.SetMemoryLimit(-1); limit != 0 || got != before {
		t.Errorf("budget 0: limit = %d, runtime limit = %d, want 0 and %d left alone", limit, got, before)
	}
}

func TestMemoryLimitSharedByServers(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	log := slog.New(slog.DiscardHandler)
	want := func(budgets int64) int64 { return budgets + budgets/5*2 + memLimitBase }
	_, restoreA := applyMemoryLimit(64<<20, log)
	_, restoreB := applyMemoryLimit(32<<20, log)
	if got := debug.SetMemoryLimit(-1); got != want(96<<20) {
		t.Fatalf("two servers: limit %d, want %d (from the sum of their budgets)", got, want(96<<20))
	}
	restoreA() // the first to start stops first
	if got := debug.SetMemoryLimit(-1); got != want(32<<20) {
		t.Fatalf("after the first stopped: limit %d, want %d", got, want(32<<20))
	}
	restoreA() // idempotent
	if got := debug.SetMemoryLimit(-1); got != want(32<<20) {
		t.Fatalf("a second restore changed the limit to %d", got)
	}
	restoreB()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Fatalf("after the last stopped: limit %d, want the original %d", got, before)
	}
}
