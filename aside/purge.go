package aside

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/gateway"
)

// Every invalidation takes one path: L2 once for the fleet, then this
// process (fences stamped, then L1 through the tag index), then the bus.
// L2 comes first so that a load of this process that read an old copy
// from L2 before it was removed either stored it before the fences were
// stamped (and the removal that follows finds it) or sees the stamps; a
// node that hears of the purge on the bus finds L2 clean already.

// Delete removes keys: here, from L2 (the copies of every Version when L2
// is a cache.Invalidator, else this Version's), and on every node of the
// bus. A load of one of them in progress anywhere is not stored. The error
// wraps ErrL2 when the shared tier failed; the rest is done regardless.
func (c *Cache[V]) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	c.n.invalidations.Add(1)
	tags := make([]string, len(keys))
	for i, k := range keys {
		tags[i] = c.keyTag(k)
	}
	var err error
	if c.l2 != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeTimeoutFactor*c.o.L2Timeout)
		defer cancel()
		l2keys := make([]string, len(keys))
		for i, k := range keys {
			l2keys[i] = c.l2Key(k)
		}
		if c.inv != nil {
			_, err = c.inv.Invalidate(ctx, cache.Invalidation{Keys: l2keys, Tags: tags})
		} else {
			for _, k := range l2keys {
				err = errors.Join(err, c.l2.Delete(ctx, k))
			}
		}
		if err != nil {
			c.n.l2Errors.Add(1)
			err = fmt.Errorf("%w: delete: %w", ErrL2, err)
		}
	}
	c.dropLocal(keys, nil)
	if c.publish != nil {
		// Origin "moat": the proxies on the bus apply it but do not fan
		// out this Cache's internal tags to the layers in front of them.
		c.publish(gateway.Purge{Tags: tags, Origin: "moat"})
	}
	return err
}

// Invalidate removes every value carrying one of tags (Options.Tags):
// here, from L2 (through cache.Invalidator) and, through the bus, on every
// node and in every moat proxy that joined it, whose responses carrying
// the tags go too. A load in progress anywhere of a value with one of the
// tags is not stored. The error wraps ErrL2 when the shared tier failed;
// the rest is done regardless.
func (c *Cache[V]) Invalidate(ctx context.Context, tags ...string) error {
	if len(tags) == 0 {
		return nil
	}
	c.n.invalidations.Add(1)
	var err error
	if c.inv != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeTimeoutFactor*c.o.L2Timeout)
		defer cancel()
		if _, err = c.inv.Invalidate(ctx, cache.Invalidation{Tags: tags}); err != nil {
			c.n.l2Errors.Add(1)
			err = fmt.Errorf("%w: invalidate: %w", ErrL2, err)
		}
	}
	c.dropLocal(nil, tags)
	if c.publish != nil {
		c.publish(gateway.Purge{Tags: tags})
	}
	return err
}

// dropLocal applies an invalidation of keys and tags to this process:
// fences first, then L1 (see fences).
func (c *Cache[V]) dropLocal(keys, tags []string) {
	c.fences.stamp(keys, tags)
	for _, k := range keys {
		c.l1.Invalidate(k)
	}
	for _, t := range tags {
		for _, k := range c.index.Keys(t) {
			c.l1.Invalidate(k)
		}
	}
}

// dropAll drops every value, and refuses every L2 copy filled until now.
func (c *Cache[V]) dropAll() {
	c.fences.stampAll(c.now())
	c.l1.InvalidateAll()
}

// fromBus applies a purge another member published. Tags naming keys of
// this Cache's Name drop those keys; those of other Caches are ignored;
// the others are tags. URLs, prefixes and routes are HTTP things of the
// proxies: they name nothing here. Soft purges are applied as hard ones.
func (c *Cache[V]) fromBus(p gateway.Purge) {
	if p.All {
		c.n.invalidations.Add(1)
		c.dropAll()
		return
	}
	var keys, tags []string
	for _, t := range p.Tags {
		if k, ok := strings.CutPrefix(t, c.keyTags); ok {
			keys = append(keys, k)
		} else if !isKeyTag(t) {
			tags = append(tags, t)
		}
	}
	if len(keys)+len(tags) > 0 {
		c.n.invalidations.Add(1)
		c.dropLocal(keys, tags)
	}
}

// lost is called when the bus may have lost purges meant for this node:
// nothing it holds, and no L2 copy stored until now, is vouched for.
func (c *Cache[V]) lost() {
	c.log.Warn("aside: purges may have been lost: dropping every value", "name", c.o.Name)
	c.dropAll()
}
