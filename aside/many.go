package aside

import (
	"context"
	"errors"
)

// GetMany returns the values of keys, as Get does for each, with one call
// of load for all the keys that need one: load receives the missing keys
// (each once) and returns the values it found; a key it leaves out is not
// in the result (and a Get waiting for it gets ErrNotFound). Keys that
// another Get or GetMany is loading already are waited for, not loaded
// again, and concurrent Gets of the keys GetMany loads wait for it.
//
// Keys whose load failed are left out of the result, and the first such
// error is returned with the values that were found. If ctx ends, GetMany
// returns at once with what it has and ctx.Err().
func (c *Cache[V]) GetMany(ctx context.Context, keys []string, load func(ctx context.Context, missing []string) (map[string]V, error)) (map[string]V, error) {
	out := make(map[string]V, len(keys))
	var (
		firstErr         error
		misses, stale    []string
		missCur, staleIt []*item[V]
		seen             map[string]bool
	)
	now := c.nanos()
	for _, k := range keys {
		if _, ok := out[k]; ok || seen[k] {
			continue
		}
		var cur *item[V]
		if it, ok := c.l1.GetIfPresent(k); ok {
			switch it.state(now) {
			case stateFresh:
				c.lookups.RecordHits(1)
				if it.err != nil {
					firstErr = firstOf(firstErr, it.err)
					continue
				}
				out[k] = it.v
				if c.early && c.refreshDue(it, now) {
					stale, staleIt = append(stale, k), append(staleIt, it)
				}
				continue
			case stateStale:
				c.n.staleServed.Add(1)
				out[k] = it.v
				stale, staleIt = append(stale, k), append(staleIt, it)
				continue
			default:
				cur = it
			}
		}
		c.lookups.RecordMisses(1)
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[k] = true
		misses, missCur = append(misses, k), append(missCur, cur)
	}
	if len(stale) > 0 && !c.refresh(ctx, stale, staleIt, load) {
		for _, it := range staleIt {
			it.refreshing.Store(false) // not started: the next read tries again
		}
	}
	if len(misses) == 0 {
		return out, firstErr
	}
	if err := ctx.Err(); err != nil {
		return out, err
	}
	fs, err := c.join(ctx, misses, missCur, load)
	if err != nil {
		return out, err
	}
	for i, f := range fs {
		v, err := c.await(ctx, f)
		switch {
		case err == nil:
			out[misses[i]] = v
		case errors.Is(err, ErrNotFound):
		case ctx.Err() != nil:
			return out, ctx.Err()
		default:
			firstErr = firstOf(firstErr, err)
		}
	}
	return out, firstErr
}

// firstOf returns the first of two errors that is not nil.
func firstOf(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
