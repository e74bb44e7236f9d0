package upstream_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/upstream"
)

func TestActiveHealthChecks(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	p := newPool(t, upstream.Options{Members: members(a, b), Health: fastHealth(2, 3)})
	p.Start()
	p.Start() // idempotent

	b.sick.Store(true)
	eventually(t, 5*time.Second, "b down", func() bool { return stateOf(p, 1) == upstream.StateDown })
	if n := b.probes.Load(); n < 3 {
		t.Errorf("b marked down after %d failed probes, want at least Fall=3", n)
	}
	if st := p.Stats()[1]; !strings.Contains(st.LastError, "503") {
		t.Errorf("LastError = %q, want the probe's status", st.LastError)
	}
	hits := b.hits.Load()
	for range 20 {
		if m, _ := get(t, p, "/"); m != "a" {
			t.Fatalf("request went to %s, want a: b is down", m)
		}
	}
	if n := b.hits.Load() - hits; n != 0 {
		t.Errorf("b served %d requests while down", n)
	}

	b.sick.Store(false)
	eventually(t, 5*time.Second, "b up", func() bool { return stateOf(p, 1) == upstream.StateUp })
	got := map[string]int{}
	for range 10 {
		m, _ := get(t, p, "/")
		got[m]++
	}
	if got["a"] != 5 || got["b"] != 5 {
		t.Errorf("after b came back: got %v, want a:5 b:5", got)
	}
}

func TestProbeHostAndStatus(t *testing.T) {
	a := newBackend(t, "a")
	// A healthy /healthz answers 200, which the Status list excludes.
	p := newPool(t, upstream.Options{Members: members(a), Health: upstream.HealthCheck{
		Path: "/healthz", Interval: 5 * time.Millisecond, Fall: 1, Status: []int{204},
	}})
	p.Start()
	eventually(t, 5*time.Second, "a down", func() bool { return stateOf(p, 0) == upstream.StateDown })
	if got := p.Healthy(); got != 0 {
		t.Errorf("Healthy() = %d, want 0", got)
	}
}

// probing reports whether any goroutine is in a probe loop.
func probing() bool {
	buf := make([]byte, 1<<20)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "upstream.(*Pool).probeLoop")
}

func TestStartCloseLifecycle(t *testing.T) {
	a := newBackend(t, "a")
	p, err := upstream.New(upstream.Options{Members: members(a), Health: fastHealth(1, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a.sick.Store(true)
	p.Start()
	eventually(t, 5*time.Second, "a down", func() bool { return stateOf(p, 0) == upstream.StateDown })
	if !probing() {
		t.Fatal("no probe goroutine while started")
	}
	p.Close()
	p.Close() // idempotent
	if probing() {
		t.Error("probe goroutines still running after Close")
	}
	p.Start() // no-op after Close
	if probing() {
		t.Error("Start after Close started probes")
	}

	q, err := upstream.New(upstream.Options{Members: members(a)})
	if err != nil {
		t.Fatal(err)
	}
	q.Close() // Close without Start
	q.Start()
	q.Close()
}
