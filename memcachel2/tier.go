package memcachel2

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/compress"
)

var _ cache.Tier = (*Tier)(nil)

// formatVersion is part of every item's name: a release that changes what
// items hold changes it. (A change of cache.AppendEntry's format alone
// makes older items fail to decode: misses, deleted.)
const formatVersion = "1"

// An item holds, in order:
//
//	kind   1 byte   itemRaw: the entry follows as cache.AppendEntry wrote
//	                it; itemZstd: compressed with zstd
//	key    string   uvarint length, then the key the entry was stored
//	                under, which Get compares to the key it was asked for
//	entry           the rest
//
// The key comes first, uncompressed, so that an item of another key is
// told apart before anything is decoded.
const (
	itemRaw  byte = 'r'
	itemZstd byte = 'z'
)

// itemName returns the name of key's item (see Tier).
func (t *Tier) itemName(key string) string {
	sum := sha256.Sum256([]byte(key))
	var enc [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	var b strings.Builder
	b.Grow(len(t.prefix) + len(enc))
	b.WriteString(t.prefix)
	b.Write(enc[:])
	return b.String()
}

// Get implements cache.Tier. An item that holds another key's entry is a
// miss; one that does not decode is a miss, and is deleted (with a Set
// racing the delete, that Set's entry can go too: one more miss).
func (t *Tier) Get(ctx context.Context, key string) (_ *cache.Entry, err error) {
	defer t.observed("get", time.Now(), &err)
	name := t.itemName(key)
	it, err := t.call(ctx, name, func() (*memcache.Item, error) { return t.mc.Get(name) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e, err := t.decode(key, it.Value)
	if err != nil {
		if t.observe != nil {
			t.observe("corrupt", 0, err)
		}
		_ = t.remove(ctx, name)
		return nil, nil
	}
	if e == nil || !e.KeepUntil.After(t.now()) {
		return nil, nil // another key's, or past its time
	}
	return e, nil
}

// decode returns the entry of an item, or nil if the item holds the entry
// of a key other than key.
func (t *Tier) decode(key string, v []byte) (*cache.Entry, error) {
	if len(v) < 2 {
		return nil, fmt.Errorf("%w: item of %d bytes", cache.ErrBadEncoding, len(v))
	}
	kind := v[0]
	n, w := binary.Uvarint(v[1:])
	if w <= 0 || n > uint64(len(v)-1-w) {
		return nil, fmt.Errorf("%w: item key length", cache.ErrBadEncoding)
	}
	stored, body := v[1+w:1+w+int(n)], v[1+w+int(n):]
	if string(stored) != key {
		return nil, nil
	}
	switch kind {
	case itemRaw:
		return cache.DecodeEntry(body)
	case itemZstd:
		raw, err := compress.Decode(compress.Zstd, body, int64(t.maxRaw))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", cache.ErrBadEncoding, err)
		}
		return cache.DecodeEntry(raw)
	}
	return nil, fmt.Errorf("%w: item kind %q", cache.ErrBadEncoding, kind)
}

// Set implements cache.Tier: the entry's item expires at its KeepUntil
// (see expiration). An entry with nothing left to keep, or too large to
// store (cache.ErrTooLarge), is not stored, and what key held is deleted:
// Set replaces.
func (t *Tier) Set(ctx context.Context, key string, e *cache.Entry) (err error) {
	defer t.observed("set", time.Now(), &err)
	name := t.itemName(key)
	exp, ok := expiration(e.KeepUntil, t.now())
	if !ok {
		return t.remove(ctx, name)
	}
	val, err := t.encode(key, e)
	if err != nil {
		_ = t.remove(ctx, name)
		return err
	}
	_, err = t.call(ctx, name, func() (*memcache.Item, error) {
		return nil, t.mc.Set(&memcache.Item{Key: name, Value: val, Expiration: exp})
	})
	if err != nil && isTooLarge(err) {
		// memcached's -I is below MaxObjectSize. It has dropped what
		// the key held.
		return fmt.Errorf("%w: %w", cache.ErrTooLarge, err)
	}
	return err
}

// encode returns the item of e stored under key, or cache.ErrTooLarge.
func (t *Tier) encode(key string, e *cache.Entry) ([]byte, error) {
	head := make([]byte, 0, 1+binary.MaxVarintLen64+len(key))
	head = append(head, itemRaw)
	head = binary.AppendUvarint(head, uint64(len(key)))
	head = append(head, key...)
	n := len(head)
	item := cache.AppendEntry(head, e) // grows head once, to size
	if len(item)-n > t.maxRaw {
		return nil, fmt.Errorf("%w: entry of %d bytes encoded, limit %d (4 × MaxObjectSize)", cache.ErrTooLarge, len(item)-n, t.maxRaw)
	}
	if t.compress > 0 && len(item)-n > t.compress {
		if z, err := compress.Encode(compress.Zstd, item[n:]); err == nil && len(z) < len(item)-n {
			item = append(item[:n:n], z...)
			item[0] = itemZstd
		}
	}
	if len(item) > t.maxObj {
		return nil, fmt.Errorf("%w: item of %d bytes, MaxObjectSize %d", cache.ErrTooLarge, len(item), t.maxObj)
	}
	return item, nil
}

// maxRelative is the longest expiration, in seconds, that memcached takes
// as relative to now (30 days); it takes larger numbers as Unix times.
const maxRelative = 30 * 24 * 60 * 60

// expiration returns the memcached expiration of an entry kept until
// keepUntil, at now: the seconds left, rounded up, up to 30 days; beyond,
// the Unix time of keepUntil, rounded up, as memcached reads larger
// numbers (and as it reads a Unix time, by its own clock), clamped to the
// largest it can hold (2038-01-19). It reports false when there is nothing
// left to keep (keepUntil zero or not after now).
func expiration(keepUntil, now time.Time) (int32, bool) {
	if keepUntil.IsZero() || !keepUntil.After(now) {
		return 0, false
	}
	if d := keepUntil.Sub(now); d <= maxRelative*time.Second {
		return int32((d + time.Second - 1) / time.Second), true
	}
	unix := keepUntil.Unix()
	if keepUntil.Nanosecond() > 0 {
		unix++
	}
	return int32(min(max(unix, maxRelative+1), math.MaxInt32)), true
}

// Delete implements cache.Tier.
func (t *Tier) Delete(ctx context.Context, key string) (err error) {
	defer t.observed("delete", time.Now(), &err)
	return t.remove(ctx, t.itemName(key))
}

// remove deletes an item; a missing one is not an error.
func (t *Tier) remove(ctx context.Context, name string) error {
	_, err := t.call(ctx, name, func() (*memcache.Item, error) { return nil, t.mc.Delete(name) })
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	return err
}
