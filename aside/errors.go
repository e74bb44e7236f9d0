package aside

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by a Get that needs a load after Close.
	ErrClosed = errors.New("aside: cache closed")
	// ErrNotFound is returned by a Get that waited for a GetMany load of
	// its key when the batch loader's map did not hold the key; GetMany
	// itself leaves such keys out of its result.
	ErrNotFound = errors.New("aside: not found")
	// ErrLoaderExited is returned to the callers of a loader that called
	// runtime.Goexit (t.FailNow in a test) instead of returning.
	ErrLoaderExited = errors.New("aside: loader exited without returning")
	// ErrL2 is wrapped by the errors of Set, Delete and Invalidate when the
	// shared tier failed: what they did in this process and on the bus
	// stands; L2 may keep its copies until they expire.
	ErrL2 = errors.New("aside: shared tier")
)

// PanicError is the error of a load whose loader panicked: every caller
// waiting for that load gets it, and the process goes on. Nothing is
// cached from it unless Options.CacheErrors says so.
type PanicError struct {
	// Value is what the loader passed to panic.
	Value any
	// Stack is the loader's goroutine stack at the panic.
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("aside: loader panicked: %v\n\n%s", e.Value, e.Stack)
}

// Unwrap returns Value if it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
