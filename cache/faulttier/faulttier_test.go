package faulttier_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/faulttier"
	"github.com/moatproxy/moat/cache/tiertest"
)

func newMemory(t *testing.T) *cache.Memory {
	t.Helper()
	m, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func entry(key string) *cache.Entry {
	return &cache.Entry{Key: key, Status: 200, Body: []byte("body of " + key), KeepUntil: time.Now().Add(time.Hour)}
}

var conformance = tiertest.Options{SharesEntries: true, TooLargeBody: 8 << 20}

// With no fault, the wrapper is transparent: it passes the suite its inner
// tier passes.
func TestConformance(t *testing.T) {
	tiertest.RunWith(t, func(t *testing.T) cache.Tier { return faulttier.New(newMemory(t)) }, conformance)
}

// A fault whose Match accepts no key of the suite leaves every call alone.
func TestConformanceFaultNotMatching(t *testing.T) {
	tiertest.RunWith(t, func(t *testing.T) cache.Tier {
		ft := faulttier.New(newMemory(t))
		ft.Inject(faulttier.Fault{Err: faulttier.ErrInjected, Hang: true, Match: func(k string) bool { return k == "no such key" }})
		return ft
	}, conformance)
}

// call runs op on key through tier and returns its error.
func call(ctx context.Context, tier cache.Tier, op faulttier.Op, key string) error {
	switch op {
	case faulttier.OpGet:
		_, err := tier.Get(ctx, key)
		return err
	case faulttier.OpSet:
		return tier.Set(ctx, key, entry(key))
	default:
		return tier.Delete(ctx, key)
	}
}

var ops = []faulttier.Op{faulttier.OpGet, faulttier.OpSet, faulttier.OpDelete}

func TestErrOnlyForGivenOp(t *testing.T) {
	ctx := context.Background()
	for _, faulty := range ops {
		t.Run(faulty.String(), func(t *testing.T) {
			ft := faulttier.New(newMemory(t))
			ft.Inject(faulttier.Fault{Err: faulttier.ErrInjected}, faulty)
			for _, op := range ops {
				err := call(ctx, ft, op, "k")
				if op == faulty && !errors.Is(err, faulttier.ErrInjected) {
					t.Errorf("%v: err = %v, want ErrInjected", op, err)
				}
				if op != faulty && err != nil {
					t.Errorf("%v: err = %v, want nil (only %v is faulty)", op, err, faulty)
				}
			}
			c := ft.Counts()
			for _, op := range ops {
				wantFaulted := uint64(0)
				if op == faulty {
					wantFaulted = 1
				}
				if c.Calls[op] != 1 || c.Faulted[op] != wantFaulted {
					t.Errorf("%v: calls, faulted = %d, %d; want 1, %d", op, c.Calls[op], c.Faulted[op], wantFaulted)
				}
			}
		})
	}
}

func TestErrAllOpsThenHeal(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t)
	ft := faulttier.New(m)
	_ = m.Set(ctx, "k", entry("k"))
	down := errors.New("l2: connection refused")
	ft.Inject(faulttier.Fault{Err: down})
	if e, err := ft.Get(ctx, "k"); e != nil || !errors.Is(err, down) {
		t.Errorf("Get = (%v, %v), want (nil, %v)", e, err, down)
	}
	if err := ft.Set(ctx, "k2", entry("k2")); !errors.Is(err, down) {
		t.Errorf("Set: err = %v, want %v", err, down)
	}
	if err := ft.Delete(ctx, "k"); !errors.Is(err, down) {
		t.Errorf("Delete: err = %v, want %v", err, down)
	}
	if e, _ := m.Get(ctx, "k2"); e != nil {
		t.Error("a failed Set reached the inner tier")
	}
	if e, _ := m.Get(ctx, "k"); e == nil {
		t.Error("a failed Delete reached the inner tier")
	}
	ft.Heal()
	if e, err := ft.Get(ctx, "k"); e == nil || err != nil {
		t.Errorf("Get after Heal = (%v, %v), want the entry", e, err)
	}
	if got := ft.Fault(faulttier.OpGet); got.Err != nil {
		t.Errorf("Fault(OpGet).Err after Heal = %v, want nil", got.Err)
	}
}

func TestHangUntilContextEnds(t *testing.T) {
	for _, op := range ops {
		t.Run(op.String(), func(t *testing.T) {
			m := newMemory(t)
			ft := faulttier.New(m)
			ft.Inject(faulttier.Fault{Hang: true}, op)
			start := time.Now() // before the deadline is set: a loaded machine may pause between the two
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			err := call(ctx, ft, op, "k")
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want one wrapping context.DeadlineExceeded", err)
			}
			if !strings.HasPrefix(err.Error(), "faulttier: ") {
				t.Errorf("err = %q, want the package prefix", err)
			}
			if d := time.Since(start); d < 20*time.Millisecond {
				t.Errorf("returned after %v, before the context's deadline", d)
			}
			if e, _ := m.Get(context.Background(), "k"); e != nil {
				t.Error("a hung Set reached the inner tier")
			}
			if c := ft.Counts(); c.Faulted[op] != 1 {
				t.Errorf("Faulted[%v] = %d, want 1", op, c.Faulted[op])
			}
		})
	}
}

func TestLatency(t *testing.T) {
	const latency = 30 * time.Millisecond
	m := newMemory(t)
	ft := faulttier.New(m)
	ft.Inject(faulttier.Fault{Latency: latency}, faulttier.OpSet)

	start := time.Now()
	if err := ft.Set(context.Background(), "slow", entry("slow")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < latency {
		t.Errorf("Set took %v, want at least %v", d, latency)
	}
	if e, _ := m.Get(context.Background(), "slow"); e == nil {
		t.Error("a delayed Set did not reach the inner tier")
	}

	// A context that ends during the delay ends the call there.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ft.Set(ctx, "canceled", entry("canceled")); !errors.Is(err, context.Canceled) {
		t.Errorf("Set with a canceled context: err = %v, want context.Canceled", err)
	}
	if e, _ := m.Get(context.Background(), "canceled"); e != nil {
		t.Error("a Set canceled during its delay reached the inner tier")
	}
	if c := ft.Counts(); c.Calls[faulttier.OpSet] != 2 || c.Faulted[faulttier.OpSet] != 1 {
		t.Errorf("Set calls, faulted = %d, %d; want 2, 1", c.Calls[faulttier.OpSet], c.Faulted[faulttier.OpSet])
	}
}

func TestDrop(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t)
	ft := faulttier.New(m)
	_ = m.Set(ctx, "stored", entry("stored"))
	ft.Inject(faulttier.Fault{Drop: true})
	if err := ft.Set(ctx, "lost", entry("lost")); err != nil {
		t.Errorf("dropped Set: err = %v, want nil", err)
	}
	if e, _ := m.Get(ctx, "lost"); e != nil {
		t.Error("a dropped Set stored the entry")
	}
	if e, err := ft.Get(ctx, "stored"); e != nil || err != nil {
		t.Errorf("dropped Get = (%v, %v), want a miss (nil, nil)", e, err)
	}
	if err := ft.Delete(ctx, "stored"); err != nil {
		t.Errorf("dropped Delete: err = %v, want nil", err)
	}
	if e, _ := m.Get(ctx, "stored"); e == nil {
		t.Error("a dropped Delete deleted the entry")
	}
	if c := ft.Counts(); c.Faulted != [3]uint64{1, 1, 1} {
		t.Errorf("Faulted = %v, want one of each", c.Faulted)
	}
}

func TestMatchLimitsFaultToKeys(t *testing.T) {
	ctx := context.Background()
	ft := faulttier.New(newMemory(t))
	ft.Inject(faulttier.Fault{Err: faulttier.ErrInjected, Match: func(k string) bool { return strings.HasPrefix(k, "bad\x00") }})
	if err := ft.Set(ctx, "bad\x00a", entry("bad\x00a")); !errors.Is(err, faulttier.ErrInjected) {
		t.Errorf("Set of a matching key: err = %v, want ErrInjected", err)
	}
	if err := ft.Set(ctx, "good", entry("good")); err != nil {
		t.Errorf("Set of another key: err = %v, want nil", err)
	}
	if e, err := ft.Get(ctx, "good"); e == nil || err != nil {
		t.Errorf("Get of another key = (%v, %v), want the entry", e, err)
	}
	if c := ft.Counts(); c.Calls[faulttier.OpSet] != 2 || c.Faulted[faulttier.OpSet] != 1 {
		t.Errorf("Set calls, faulted = %d, %d; want 2, 1", c.Calls[faulttier.OpSet], c.Faulted[faulttier.OpSet])
	}
}

// A Block holds a call until the test closes it, so the test can act while
// the call is known to be in flight.
func TestBlockHoldsCallsUntilClosed(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t)
	ft := faulttier.New(m)
	gate := make(chan struct{})
	ft.Inject(faulttier.Fault{Block: gate}, faulttier.OpSet)

	done := make(chan error, 1)
	go func() { done <- ft.Set(ctx, "k", entry("k")) }()
	// The Set is counted before it is held; wait for that, then the
	// entry cannot be in the inner tier until the gate opens.
	for ft.Counts().Calls[faulttier.OpSet] == 0 {
		time.Sleep(time.Millisecond)
	}
	// Healing does not release a call already held: it keeps its fault.
	ft.Heal()
	if e, _ := m.Get(ctx, "k"); e != nil {
		t.Fatal("a held Set reached the inner tier before the gate opened")
	}
	select {
	case err := <-done:
		t.Fatalf("held Set returned %v before the gate opened", err)
	default:
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("released Set: err = %v", err)
	}
	if e, _ := m.Get(ctx, "k"); e == nil {
		t.Error("a released Set did not reach the inner tier")
	}

	// A held call whose context ends returns its error.
	ft.Inject(faulttier.Fault{Block: make(chan struct{})}, faulttier.OpGet)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := ft.Get(cctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held Get whose context ended: err = %v, want context.DeadlineExceeded", err)
	}
}

// Faults change while calls run: no race (under -race), and every call sees
// either the old fault or the new one.
func TestInjectWhileCallsRun(t *testing.T) {
	ctx := context.Background()
	ft := faulttier.New(newMemory(t))
	const goroutines, perGoroutine = 4, 500
	stop := make(chan struct{})
	var toggler sync.WaitGroup
	toggler.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			switch i % 3 {
			case 0:
				ft.Inject(faulttier.Fault{Err: faulttier.ErrInjected})
			case 1:
				ft.Inject(faulttier.Fault{Drop: true}, faulttier.OpSet, faulttier.OpDelete)
			default:
				ft.Heal()
			}
		}
	})
	var callers sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		callers.Go(func() {
			for i := range perGoroutine {
				op := ops[(g+i)%len(ops)]
				if err := call(ctx, ft, op, "k"); err != nil && !errors.Is(err, faulttier.ErrInjected) {
					errs <- err
					return
				}
			}
		})
	}
	callers.Wait()
	close(stop)
	toggler.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("unexpected error: %v", err)
	}
	c := ft.Counts()
	if total := c.Calls[0] + c.Calls[1] + c.Calls[2]; total != goroutines*perGoroutine {
		t.Errorf("calls counted = %d, want %d", total, goroutines*perGoroutine)
	}
}

func TestOpString(t *testing.T) {
	for op, want := range map[faulttier.Op]string{faulttier.OpGet: "Get", faulttier.OpSet: "Set", faulttier.OpDelete: "Delete", 7: "Op(7)"} {
		if got := op.String(); got != want {
			t.Errorf("Op(%d).String() = %q, want %q", int(op), got, want)
		}
	}
}
