package cache

import (
	"context"
	"errors"
)

// ErrTooLarge is returned by Set when an entry exceeds what a tier accepts.
var ErrTooLarge = errors.New("cache: entry too large")

// A Tier stores entries by canonical key.
//
// Get returns (nil, nil) on a miss; an error means the tier could not answer
// (a shared tier that is down), which callers treat as a miss. Set replaces
// any entry under the key. Implementations must be safe for concurrent use
// and must not modify entries they are given or return.
type Tier interface {
	Get(ctx context.Context, key string) (*Entry, error)
	Set(ctx context.Context, key string, e *Entry) error
	Delete(ctx context.Context, key string) error
}
