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

// Chain is a Tier made of tiers tried in order, fastest first. A hit in a
// lower tier fills the tiers above it.
type Chain []Tier

var _ Tier = Chain(nil)

// Get returns the first tier's entry for key. Errors of individual tiers are
// joined and returned only when no tier had the entry.
func (c Chain) Get(ctx context.Context, key string) (*Entry, error) {
	var errs []error
	for i, t := range c {
		e, err := t.Get(ctx, key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e == nil {
			continue
		}
		for j := 0; j < i; j++ {
			// A fill failing is not the caller's problem: the entry is
			// still good; the next lookup just goes down again.
			_ = c[j].Set(ctx, key, e)
		}
		return e, nil
	}
	return nil, errors.Join(errs...)
}

// Set stores e in every tier; it returns the joined errors of the tiers
// that failed.
func (c Chain) Set(ctx context.Context, key string, e *Entry) error {
	var errs []error
	for _, t := range c {
		if err := t.Set(ctx, key, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Delete removes key from every tier.
func (c Chain) Delete(ctx context.Context, key string) error {
	var errs []error
	for _, t := range c {
		if err := t.Delete(ctx, key); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
