// Package faulttier wraps a cache.Tier with faults that tests switch on and
// off while calls run: errors, hangs, latency, silently dropped calls, and
// gates that hold calls until the test lets them go, for all operations or
// only some, for all keys or only some. It counts the calls of each
// operation.
//
// It exists so that code over a shared tier (an L2 that can be down, slow or
// lossy) can be tested against those failures without one:
//
//	ft := faulttier.New(l2)
//	ft.Inject(faulttier.Fault{Err: faulttier.ErrInjected}) // L2 down
//	... exercise the gateway ...
//	ft.Heal()
//
// A Tier with no fault injected passes every call to the inner tier
// unchanged, so it passes the tiertest suite whenever the inner tier does.
package faulttier

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/cache"
)

// ErrInjected is an error to inject when the test does not care which.
var ErrInjected = errors.New("faulttier: injected fault")

// Op names a Tier operation.
type Op int

// The operations, which index Counts.
const (
	OpGet Op = iota
	OpSet
	OpDelete
	numOps
)

func (o Op) String() string {
	switch o {
	case OpGet:
		return "Get"
	case OpSet:
		return "Set"
	case OpDelete:
		return "Delete"
	}
	return fmt.Sprintf("Op(%d)", int(o))
}

// A Fault says what happens to a call. The zero Fault passes calls through.
// The steps apply in the order of the fields: a call that matches waits for
// Block, then sleeps Latency, then hangs (Hang), fails (Err) or is dropped
// (Drop); otherwise it reaches the inner tier. If the call's context ends
// while it waits, sleeps or hangs, it returns at once with an error wrapping
// the context's error, without reaching the inner tier.
type Fault struct {
	// Match, if not nil, limits the fault to calls whose key it accepts;
	// other calls pass through untouched. It is called concurrently.
	Match func(key string) bool

	// Block, if not nil, holds each call until the channel is closed:
	// a gate that lets a test order a call against others (close it to
	// release every held call, and every later one).
	Block <-chan struct{}
	// Latency is added to each call before anything else happens to it,
	// as if the tier were far away.
	Latency time.Duration

	// Hang makes each call block until its context ends, as a tier does
	// whose connection is up but which never answers.
	Hang bool
	// Err, if not nil, is returned by each call (Get returns a nil
	// entry), as a tier that is down does. It is returned as is, so that
	// errors.Is finds it.
	Err error
	// Drop makes each call return success without reaching the inner
	// tier: Get misses (nil, nil), Set stores nothing and Delete deletes
	// nothing. It is the lossy tier that callers cannot tell from a
	// healthy one.
	Drop bool
}

// Counts is a snapshot of a Tier's counters, indexed by Op.
type Counts struct {
	// Calls counts the calls received, faulted or not.
	Calls [numOps]uint64
	// Faulted counts the calls that returned without reaching the
	// inner tier: hung, failed, dropped, or whose context ended while
	// they were held or delayed.
	Faulted [numOps]uint64
}

// Tier is a cache.Tier that injects faults into calls to an inner tier. Its
// faults can be changed at any time, concurrently with calls: each call
// reads the fault of its operation once, when it starts, so a call under way
// keeps the fault it started with (a Block it waits on included).
type Tier struct {
	inner   cache.Tier
	faults  [numOps]atomic.Pointer[Fault]
	calls   [numOps]atomic.Uint64
	faulted [numOps]atomic.Uint64
}

var _ cache.Tier = (*Tier)(nil)

// New returns a Tier over inner with no fault injected.
func New(inner cache.Tier) *Tier {
	return &Tier{inner: inner}
}

// Inject makes f the fault of the given operations, or of all three if
// none is given, replacing their previous faults. Calls already under way
// keep the fault they started with. An Op other than OpGet, OpSet and
// OpDelete panics.
func (t *Tier) Inject(f Fault, ops ...Op) {
	if len(ops) == 0 {
		ops = []Op{OpGet, OpSet, OpDelete}
	}
	for _, op := range ops {
		f := f
		t.faults[op].Store(&f)
	}
}

// Heal removes every fault: calls made from now on pass through.
func (t *Tier) Heal() {
	for op := range t.faults {
		t.faults[op].Store(nil)
	}
}

// Fault returns the fault injected into op (the zero Fault if none).
func (t *Tier) Fault(op Op) Fault {
	if f := t.faults[op].Load(); f != nil {
		return *f
	}
	return Fault{}
}

// Counts returns the counters. Each is read atomically, the set of them is
// not: read it when the calls of interest have returned.
func (t *Tier) Counts() Counts {
	var c Counts
	for op := range numOps {
		c.Calls[op] = t.calls[op].Load()
		c.Faulted[op] = t.faulted[op].Load()
	}
	return c
}

// Get returns the inner tier's entry for key, unless a fault intervenes.
func (t *Tier) Get(ctx context.Context, key string) (*cache.Entry, error) {
	if pass, err := t.before(ctx, OpGet, key); !pass {
		return nil, err
	}
	return t.inner.Get(ctx, key)
}

// Set stores e in the inner tier, unless a fault intervenes.
func (t *Tier) Set(ctx context.Context, key string, e *cache.Entry) error {
	if pass, err := t.before(ctx, OpSet, key); !pass {
		return err
	}
	return t.inner.Set(ctx, key, e)
}

// Delete removes key from the inner tier, unless a fault intervenes.
func (t *Tier) Delete(ctx context.Context, key string) error {
	if pass, err := t.before(ctx, OpDelete, key); !pass {
		return err
	}
	return t.inner.Delete(ctx, key)
}

// before counts a call and applies its fault. It reports whether the call
// goes on to the inner tier and, if not, the error it returns.
// Range lists the inner tier's entries, without faults, if the inner tier
// can (as cache.Memory does): a gateway's L1 must (gateway.Options.Tier).
// Over a tier that cannot list, it calls fn for nothing.
func (t *Tier) Range(fn func(key string, e *cache.Entry) bool) {
	if r, ok := t.inner.(interface {
		Range(func(string, *cache.Entry) bool)
	}); ok {
		r.Range(fn)
	}
}

func (t *Tier) before(ctx context.Context, op Op, key string) (pass bool, err error) {
	t.calls[op].Add(1)
	f := t.faults[op].Load()
	if f == nil || (f.Match != nil && !f.Match(key)) {
		return true, nil
	}
	pass, err = f.apply(ctx, op, key)
	if !pass {
		t.faulted[op].Add(1)
	}
	return pass, err
}

func (f *Fault) apply(ctx context.Context, op Op, key string) (pass bool, err error) {
	if f.Block != nil {
		select {
		case <-f.Block:
		case <-ctx.Done():
			return false, interrupted(ctx, op, key, "held")
		}
	}
	if f.Latency > 0 {
		timer := time.NewTimer(f.Latency)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return false, interrupted(ctx, op, key, "delayed")
		}
	}
	switch {
	case f.Hang:
		<-ctx.Done()
		return false, interrupted(ctx, op, key, "hung")
	case f.Err != nil:
		return false, f.Err
	case f.Drop:
		return false, nil
	}
	return true, nil
}

func interrupted(ctx context.Context, op Op, key, how string) error {
	return fmt.Errorf("faulttier: %s %q %s until its context ended: %w", op, key, how, ctx.Err())
}
