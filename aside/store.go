package aside

import (
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/moatproxy/moat/cache"
)

// newItem builds the item of a value loaded (or Set) at at, whose load
// took delta, and its encoding when L2 or the default Size needs it. It
// calls the hooks (TTLFunc, Tags, Size, Codec), which may panic: callers
// run under a recover.
func (c *Cache[V]) newItem(key string, v V, at time.Time, delta time.Duration) (*item[V], []byte, error) {
	ttl := c.o.TTL
	if c.o.TTLFunc != nil {
		if d := c.o.TTLFunc(key, v); d > 0 {
			ttl = d
		}
	}
	var tags []string
	if c.o.Tags != nil {
		tags = c.o.Tags(key, v)
	}
	var body []byte
	if c.l2 != nil || c.o.Size == nil {
		var err error
		if body, err = c.o.Codec.Marshal(v); err != nil {
			return nil, nil, err
		}
	}
	size := len(body)
	if c.o.Size != nil {
		size = c.o.Size(v)
	}
	fresh := at.Add(ttl)
	it := &item[V]{
		tagged: tagged{tags},
		v:      v,
		id:     cache.NewEntryID(),
		fresh:  fresh.UnixNano(),
		swr:    fresh.Add(c.o.StaleWhileRevalidate).UnixNano(),
		sie:    fresh.Add(c.o.StaleIfError).UnixNano(),
		ttl:    ttl,
		delta:  delta,
	}
	it.weight = c.weigh(key, size, tags)
	return it, body, nil
}

// store puts it in L1 under key unless an invalidation since the fences
// stood at since covers it (see fences), and reports whether it did. A
// value heavier than MaxBytes/8 is not kept.
func (c *Cache[V]) store(key string, it *item[V], since uint64) bool {
	if it.weight > c.maxWeight || c.fences.crossed(since, key, it.tags) {
		return false // (checked before too, so as not to replace a successor for nothing)
	}
	// Indexed first: a purge that reads the index after the check below
	// finds the key.
	_ = c.index.Add(key, it.tags, &it.tagged) // no pair cap: never full
	c.l1.Set(key, it)
	if c.fences.crossed(since, key, it.tags) {
		c.drop(key, it)
		c.index.Remove(key, it.tags, &it.tagged)
		return false
	}
	return true
}

// drop removes key from L1 if it still holds it (not a successor).
func (c *Cache[V]) drop(key string, it *item[V]) {
	c.l1.ComputeIfPresent(key, func(old *item[V]) (*item[V], otter.ComputeOp) {
		if old == it {
			return nil, otter.InvalidateOp
		}
		return old, otter.CancelOp
	})
}
