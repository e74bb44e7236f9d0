package aside

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/leaktest"
)

// book is the value of most tests.
type book struct {
	ID    int
	Title string
	Tags  []string
}

// clock is a fake clock that moves only when a test says so.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// newCache returns a Cache of books named "books" with a TTL of a minute
// unless o says otherwise, closed when the test ends.
func newCache[V any](t testing.TB, o Options[V]) *Cache[V] {
	t.Helper()
	if o.Name == "" {
		o.Name = "books"
	}
	if o.TTL == 0 {
		o.TTL = time.Minute
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	c, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// loader counts its calls and answers with what next returns (by default,
// a book whose Title is the call's number).
type loader struct {
	calls atomic.Int64
	next  func(ctx context.Context, n int64) (book, error)
}

func (l *loader) load(ctx context.Context) (book, error) {
	n := l.calls.Add(1)
	if l.next != nil {
		return l.next(ctx, n)
	}
	return book{ID: int(n), Title: "v" + itoa(n)}, nil
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// never is a loader for reads that must not load.
func never(t testing.TB) func(context.Context) (book, error) {
	return func(context.Context) (book, error) {
		t.Error("the loader was called")
		return book{}, nil
	}
}

// eventually polls cond until it holds, failing the test after a while.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond) // polling, not synchronization
	}
}

// within runs fn and fails the test if it does not return within d.
func within[T any](t testing.TB, d time.Duration, fn func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- fn() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("did not return within %v", d)
		panic("unreachable")
	}
}

type result struct {
	v   book
	err error
}

// noLeaks: see leaktest.Check.
var noLeaks = leaktest.Check
