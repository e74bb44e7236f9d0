package aside

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/moatproxy/moat/cache"
)

// keyTagStart begins the tags that name one key of a Cache (keyTag). Tags
// of origins and applications never hold a NUL.
const keyTagStart = "\x00aside:"

// l2Key is key's name in L2: "aside:" + Name + "@" + Version + ":" + key.
// Name and Version hold no ':' or '@', so no two Caches' keys meet. A key
// is escaped (see escapeKey) so that no L2 key holds "://": tiers read the
// path of what does as an HTTP key's (cache.PathOf) and index it by
// path prefix, which a moat prefix purge would then remove.
func (c *Cache[V]) l2Key(key string) string { return c.prefix + escapeKey(key) }

// escapeKey returns key unchanged unless it holds a '%' or "://"; then every
// '%' becomes "%25" and every ':' "%3A". Escaped keys hold a '%' and
// unescaped ones none, so no two keys get the same result.
func escapeKey(key string) string {
	if !strings.Contains(key, "%") && !strings.Contains(key, "://") {
		return key
	}
	return strings.NewReplacer("%", "%25", ":", "%3A").Replace(key)
}

// keyTag is the tag that names key in every Version of this Cache's Name:
// Delete and Set publish it on the bus, and L2 copies carry it (with an
// Invalidator), so that a Delete removes the copies of every Version.
func (c *Cache[V]) keyTag(key string) string { return c.keyTags + key }

// l2Get reads key's copy from L2 and decodes it. It returns nil for a
// miss, an error (counted), a copy stored under another key, one filled
// before a purge of everything this node heard of, one that cannot be
// decoded, the copy cur already holds (same ID), one past every window,
// and unless stale is allowed, one that is not fresh.
func (c *Cache[V]) l2Get(ctx context.Context, key string, cur *item[V], stale bool) *item[V] {
	lk := c.l2Key(key)
	lctx, cancel := context.WithTimeout(ctx, c.o.L2Timeout)
	e, err := c.l2.Get(lctx, lk)
	cancel()
	switch {
	case err != nil:
		c.n.l2Errors.Add(1)
		return nil
	case e == nil || e.Key != lk || e.VaryMarker || e.HitForMiss || c.fences.refused(e.RequestTime) ||
		cur != nil && e.ID == cur.id:
		c.n.l2Misses.Add(1)
		return nil
	}
	it, err := c.fromEntry(key, e)
	if err != nil {
		c.n.codecErrors.Add(1)
		c.n.l2Misses.Add(1)
		c.log.Warn("aside: L2 copy not decoded", "name", c.o.Name, "err", err)
		return nil
	}
	if st := it.state(c.nanos()); st == stateDead || !stale && st != stateFresh {
		c.n.l2Misses.Add(1)
		return nil
	}
	c.n.l2Hits.Add(1)
	return it
}

// fromEntry decodes an L2 copy into an item. A panic of the Codec or of
// Size is returned as an error: this runs on fills' helper goroutines.
func (c *Cache[V]) fromEntry(key string, e *cache.Entry) (it *item[V], err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("codec panicked: %v", r)
		}
	}()
	var v V
	if err := c.o.Codec.Unmarshal(e.Body, &v); err != nil {
		return nil, err
	}
	tags := e.Tags
	if slices.ContainsFunc(tags, isKeyTag) {
		tags = slices.DeleteFunc(slices.Clone(tags), isKeyTag)
	}
	size := len(e.Body)
	if c.o.Size != nil {
		size = c.o.Size(v)
	}
	fresh := e.ResponseTime.Add(e.Lifetime - e.InitialAge)
	it = &item[V]{
		tagged: tagged{tags},
		v:      v,
		id:     e.ID,
		fresh:  fresh.UnixNano(),
		swr:    fresh.Add(e.StaleWhileRevalidate).UnixNano(),
		sie:    fresh.Add(e.StaleIfError).UnixNano(),
		ttl:    e.Lifetime,
		delta:  e.FetchTime,
	}
	it.weight = c.weigh(key, size, tags)
	return it, nil
}

func isKeyTag(t string) bool { return strings.HasPrefix(t, keyTagStart) }

// l2Set writes it to L2 as a cache.Entry whose fill started at start (the
// tier's purge fences compare it), within timeout.
func (c *Cache[V]) l2Set(ctx context.Context, key string, it *item[V], body []byte, start time.Time, timeout time.Duration) error {
	tags := it.tags
	if c.inv != nil {
		tags = append(slices.Clip(tags), c.keyTag(key))
	}
	fresh := time.Unix(0, it.fresh)
	e := &cache.Entry{
		Key:                  c.l2Key(key),
		ID:                   it.id,
		Status:               200,
		Body:                 body,
		RequestTime:          start,
		ResponseTime:         fresh.Add(-it.ttl),
		Lifetime:             it.ttl,
		StaleWhileRevalidate: time.Duration(it.swr - it.fresh),
		StaleIfError:         time.Duration(it.sie - it.fresh),
		FetchTime:            it.delta,
		Tags:                 tags,
		KeepUntil:            time.Unix(0, it.keepUntil()),
	}
	lctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := c.l2.Set(lctx, e.Key, e)
	if err != nil {
		c.n.l2Errors.Add(1)
	}
	return err
}
