package redisl2

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/compress"
)

// Tier is moat's L2 in Redis: a cache.Tier that indexes entries by tag and
// by path segment, applies purges itself and fences the writes they
// overtook (cache.Invalidator).
type Tier struct{ c *Client }

var _ cache.Replacer = (*Tier)(nil)

// Tier returns the client's L2 tier.
func (c *Client) Tier() *Tier { return &Tier{c} }

// Stored values start with a byte that says how the encoded entry
// (cache.AppendEntry) follows, then the entry's ID (8 bytes, big-endian),
// readable without decoding the entry.
const (
	valueRaw  byte = 'r'
	valueZstd byte = 'z'
	idBytes        = 8
)

// hashTag is the slot part of a URL's keys: the hash of the key up to its
// first NUL (the URL's key without versions, scope or variant), so that a
// URL's variants, scopes, fence and leases share a Cluster slot.
func hashTag(key string) string {
	if i := strings.IndexByte(key, 0); i >= 0 {
		key = key[:i]
	}
	return strconv.FormatUint(xxhash.Sum64String(key), 16)
}

// entryKey is hashTag and the key's own hash in one allocation: it is
// built on every L2 lookup.
func (c *Client) entryKey(key string) string {
	url := key
	if i := strings.IndexByte(key, 0); i >= 0 {
		url = key[:i]
	}
	var b strings.Builder
	b.Grow(len(c.prefix) + 2*16 + len("{}:e:"))
	b.WriteString(c.prefix)
	b.WriteByte('{')
	var n [16]byte
	b.Write(strconv.AppendUint(n[:0], xxhash.Sum64String(url), 16))
	b.WriteString("}:e:")
	b.Write(strconv.AppendUint(n[:0], xxhash.Sum64String(key), 16))
	return b.String()
}

func (c *Client) fenceKey(key string) string { return c.prefix + "{" + hashTag(key) + "}:f" }

func (c *Client) tagKey(tag string) string {
	return c.prefix + "t:{" + strconv.FormatUint(xxhash.Sum64String(tag), 16) + "}"
}

func (c *Client) tagFenceKey(tag string) string { return c.tagKey(tag) + ":f" }

// Get implements cache.Tier. An entry stored under another key that hashed
// to the same name is a miss.
func (t *Tier) Get(ctx context.Context, key string) (_ *cache.Entry, err error) {
	c := t.c
	defer c.observed("get", time.Now(), &err)
	rc, err := c.r()
	if err != nil {
		return nil, err
	}
	b, err := rc.Do(ctx, rc.B().Get().Key(c.entryKey(key)).Build()).AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	e, err := c.decode(b)
	if err != nil || e.Key != key {
		return nil, nil // another release's or another key's: a miss
	}
	return e, nil
}

func (c *Client) decode(b []byte) (*cache.Entry, error) {
	if len(b) < 1+idBytes {
		return nil, cache.ErrBadEncoding
	}
	kind, b := b[0], b[1+idBytes:]
	switch kind {
	case valueRaw:
		return cache.DecodeEntry(b)
	case valueZstd:
		raw, err := compress.Decode(compress.Zstd, b, int64(c.maxObj)*4)
		if err != nil {
			return nil, err
		}
		return cache.DecodeEntry(raw)
	}
	return nil, cache.ErrBadEncoding
}

func (c *Client) encode(e *cache.Entry) ([]byte, error) {
	const head = 1 + idBytes
	raw := make([]byte, head, head+e.Size())
	raw[0] = valueRaw
	binary.BigEndian.PutUint64(raw[1:], e.ID)
	raw = cache.AppendEntry(raw, e)
	if c.compress > 0 && len(raw) > c.compress {
		if z, err := compress.Encode(compress.Zstd, raw[head:]); err == nil && len(z)+head < len(raw) {
			raw = append(append(raw[:0:0], raw[:head]...), z...)
			raw[0] = valueZstd
		}
	}
	if len(raw) > c.maxObj {
		return nil, cache.ErrTooLarge
	}
	return raw, nil
}

// tagsOf are the tags an entry under key is indexed by: its own (URL tags
// included) and its path's segment boundaries.
func tagsOf(key string, e *cache.Entry) []string {
	return append(append(make([]string, 0, len(e.Tags)+4), e.Tags...), cache.PrefixTags(cache.PathOf(key))...)
}

// fenceSkew is the clock skew between nodes that purge fences allow for.
const fenceSkew = time.Second

// Set implements cache.Tier: the entry with a Redis TTL of its KeepUntil,
// indexed by its tags; then, unless its fill is older than cache.FenceFor,
// the purge fences of its URL and tags are read, and the entry is deleted
// again if one of them is as recent as its fill's start (see
// cache.Invalidator).
func (t *Tier) Set(ctx context.Context, key string, e *cache.Entry) (err error) {
	defer t.c.observed("set", time.Now(), &err)
	// Fences are stamped with the purging node's clock: allow it to be
	// behind this one's by up to fenceSkew (a fill that started just after
	// a purge is then not written to L2, at worst).
	return t.set(ctx, key, e, e.RequestTime.Add(-fenceSkew))
}

// Replace implements cache.Replacer: for the entry a write put in place of
// what its own purge removed, fenced only by purges stamped after `after`
// (the write's node stamped its own before then, on its own clock).
func (t *Tier) Replace(ctx context.Context, key string, e *cache.Entry, after time.Time) (err error) {
	defer t.c.observed("set", time.Now(), &err)
	return t.set(ctx, key, e, after.Add(time.Millisecond))
}

// set stores e unless the fence of its URL is as recent as since, in one
// script (the fence shares the entry's slot), and deletes it again if a
// fence of one of its tags, read after, is (tags live in other slots).
// Fills older than cache.FenceFor are not checked.
//
// The URL's fence is checked before the SET, not after it: a fill that a
// write overtook would otherwise first overwrite the entry the write put
// in place (cache.Replacer) and then delete it. The deletes that follow a
// SET (a tag's fence, a failed pipeline) remove the key only while it
// still holds this entry's ID, so they never take a later writer's entry.
func (t *Tier) set(ctx context.Context, key string, e *cache.Entry, since time.Time) error {
	c := t.c
	rc, err := c.r()
	if err != nil {
		return err
	}
	now := c.now()
	ttl := e.KeepUntil.Sub(now)
	if ttl < time.Millisecond {
		return nil // nothing to keep
	}
	val, err := c.encode(e)
	if err != nil {
		return err
	}
	ek := c.entryKey(key)
	tags := tagsOf(key, e)
	expiry := e.KeepUntil.UnixMilli()
	fenced := !e.RequestTime.IsZero() && now.Sub(e.RequestTime) <= cache.FenceFor
	start := ""
	if fenced {
		start = strconv.FormatInt(since.UnixMilli(), 10)
	}
	// The indexes before the entry (in one pipeline, sent in order): an
	// entry is never in L2 without being in its indexes. The member is the
	// entry's key, so rewriting a key moves its score, it adds nothing.
	cmds := make(rueidis.Commands, 0, 1+3*len(tags))
	for _, tag := range tags {
		tk := c.tagKey(tag)
		cmds = append(cmds,
			rc.B().Zadd().Key(tk).Gt().ScoreMember().ScoreMember(float64(expiry), ek).Build(),
			// The index outlives its members: set an expiry if it has none,
			// and push it out to the newest member's.
			rc.B().Pexpireat().Key(tk).MillisecondsTimestamp(expiry).Nx().Build(),
			rc.B().Pexpireat().Key(tk).MillisecondsTimestamp(expiry).Gt().Build())
		if rand.IntN(16) == 0 { // now and then, drop the members that expired
			cmds = append(cmds, rc.B().Zremrangebyscore().Key(tk).Min("-inf").Max("("+strconv.FormatInt(now.UnixMilli(), 10)).Build())
		}
	}
	// EVALSHA in this ordered pipeline; a server that does not know the
	// script yet (NOSCRIPT: it ran nothing) gets it once with EVAL.
	fk, value, px := c.fenceKey(key), rueidis.BinaryString(val), strconv.FormatInt(ttl.Milliseconds(), 10)
	cmds = append(cmds, rc.B().Evalsha().Sha1(setUnlessFencedSHA).Numkeys(2).Key(ek, fk).Arg(value, px, start).Build())
	id := rueidis.BinaryString(val[1 : 1+idBytes])
	res := rc.DoMulti(ctx, cmds...)
	if rerr, ok := rueidis.IsRedisErr(res[len(res)-1].Error()); ok && rerr.IsNoScript() {
		res[len(res)-1] = rc.Do(ctx, rc.B().Eval().Script(setUnlessFenced).Numkeys(2).Key(ek, fk).Arg(value, px, start).Build())
	}
	for _, r := range res {
		if err := r.Error(); err != nil {
			// The SET may have been sent, and land without its index or
			// its fence check: take it back, behind it on the connection.
			c.undo(rc, ek, id)
			return err
		}
	}
	if stored, _ := res[len(res)-1].AsInt64(); stored == 0 || !fenced {
		return nil // refused by its URL's fence, or too old to check
	}
	fences := make(rueidis.Commands, 0, len(tags))
	for _, tag := range tags {
		fences = append(fences, rc.B().Get().Key(c.tagFenceKey(tag)).Build())
	}
	if len(fences) == 0 {
		return nil
	}
	start64 := since.UnixMilli()
	for _, r := range rc.DoMulti(ctx, fences...) {
		at, err := r.AsInt64()
		if rueidis.IsRedisNil(err) {
			continue
		}
		if err != nil {
			// Unknown: do not keep what a purge may have covered.
			c.undo(rc, ek, id)
			return err
		}
		if at >= start64 {
			// Off the caller's deadline and retried, as a failed write is:
			// a purge covered this entry.
			c.undo(rc, ek, id)
			return nil
		}
	}
	return nil
}

// setUnlessFenced: KEYS[1] the entry, KEYS[2] its URL's fence; ARGV[1]
// the value, ARGV[2] its TTL (ms), ARGV[3] the fill's start (ms; empty:
// not checked). Returns 1 when stored, 0 when the fence is as recent.
const setUnlessFenced = `
if ARGV[3] ~= '' then
  local f = redis.call('GET', KEYS[2])
  if f and tonumber(f) >= tonumber(ARGV[3]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

var setUnlessFencedSHA = func() string {
	sum := sha1.Sum([]byte(setUnlessFenced))
	return hex.EncodeToString(sum[:])
}()

// delIfID deletes KEYS[1] if the stored value carries the entry ID ARGV[1]
// (its bytes 1 to 8, see encode).
var delIfID = rueidis.NewLuaScript(`
if redis.call('GETRANGE', KEYS[1], 1, 8) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// undo deletes an entry key whose write failed part way, while it holds
// the entry ID id, off the caller's deadline (which may be what failed):
// the delete follows the write on the connection, so it lands after it
// whenever Redis answers.
//
// The delete is sent before undo returns (a short wait for its answer), so
// that it precedes whatever the caller sends next; if no answer comes, it
// is sent again in the background until one does.
func (c *Client) undo(rc rueidis.Client, ek, id string) {
	del := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return delIfID.Exec(ctx, rc, []string{ek}, []string{id}).Error()
	}
	if del(undoWait) == nil {
		return
	}
	go func() {
		for deadline := time.Now().Add(undoRetry); time.Now().Before(deadline); {
			if del(time.Second) == nil {
				return
			}
		}
	}()
}

// undoWait is how long undo waits for its first DEL; undoRetry how long it
// goes on trying.
const (
	undoWait  = 100 * time.Millisecond
	undoRetry = 30 * time.Second
)

// Delete implements cache.Tier. The entry's tag index members go when they
// expire or when a purge of the tag finds nothing under them.
func (t *Tier) Delete(ctx context.Context, key string) (err error) {
	c := t.c
	defer c.observed("delete", time.Now(), &err)
	rc, err := c.r()
	if err != nil {
		return err
	}
	return rc.Do(ctx, rc.B().Del().Key(c.entryKey(key)).Build()).Error()
}

// raiseFence sets a fence key to at (ms) unless it holds a later time, for
// cache.FenceFor.
var raiseFence = rueidis.NewLuaScript(`
local cur = redis.call('GET', KEYS[1])
if (not cur) or tonumber(cur) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1`)

// maxTagBatch is how many members of a tag one round of a purge removes;
// maxTagBatches bounds the rounds (entries stored while a purge runs would
// otherwise keep it going).
const (
	maxTagBatch   = 1000
	maxTagBatches = 10_000
)

// Invalidate implements cache.Invalidator: the fences first, then the
// entries (so that a write that checks after it stored either sees the
// fence or is deleted here).
func (t *Tier) Invalidate(ctx context.Context, inv cache.Invalidation) (_ int, err error) {
	c := t.c
	defer c.observed("invalidate", time.Now(), &err)
	rc, err := c.r()
	if err != nil {
		return 0, err
	}
	at := strconv.FormatInt(c.now().UnixMilli(), 10)
	fenceFor := strconv.FormatInt(cache.FenceFor.Milliseconds(), 10)
	tags := append([]string(nil), inv.Tags...)
	for _, p := range inv.Prefixes {
		tags = append(tags, cache.PrefixTag(p))
	}
	var stamps []rueidis.LuaExec
	for _, k := range inv.Keys {
		stamps = append(stamps, rueidis.LuaExec{Keys: []string{c.fenceKey(k)}, Args: []string{at, fenceFor}})
	}
	for _, tag := range tags {
		stamps = append(stamps, rueidis.LuaExec{Keys: []string{c.tagFenceKey(tag)}, Args: []string{at, fenceFor}})
	}
	for _, r := range raiseFence.ExecMulti(ctx, rc, stamps...) {
		if err := r.Error(); err != nil {
			return 0, err
		}
	}
	n := 0
	if len(inv.Keys) > 0 {
		dels := make(rueidis.Commands, 0, len(inv.Keys))
		for _, k := range inv.Keys {
			dels = append(dels, rc.B().Del().Key(c.entryKey(k)).Build())
		}
		for _, r := range rc.DoMulti(ctx, dels...) {
			d, err := r.AsInt64()
			if err != nil {
				return n, err
			}
			n += int(d)
		}
	}
	for _, tag := range tags {
		d, err := c.purgeTag(ctx, rc, c.tagKey(tag))
		n += d
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// purgeTag deletes the entries a tag's index names, newest first (the
// live ones), a batch at a time, one DEL per entry (they live in their own
// slots), and removes those members. An entry rewritten without the tag is
// deleted too: a tier may remove more than a purge names, never less.
func (c *Client) purgeTag(ctx context.Context, rc rueidis.Client, tk string) (int, error) {
	n := 0
	for range maxTagBatches {
		members, err := rc.Do(ctx, rc.B().Zrange().Key(tk).Min("0").Max(strconv.Itoa(maxTagBatch-1)).Rev().Build()).AsStrSlice()
		if err != nil {
			return n, err
		}
		if len(members) == 0 {
			return n, nil
		}
		cmds := make(rueidis.Commands, 0, len(members))
		for _, m := range members {
			cmds = append(cmds, rc.B().Del().Key(m).Build())
		}
		for _, r := range rc.DoMulti(ctx, cmds...) {
			d, err := r.AsInt64()
			if err != nil {
				return n, err
			}
			n += int(d)
		}
		if err := rc.Do(ctx, rc.B().Zrem().Key(tk).Member(members...).Build()).Error(); err != nil {
			return n, err
		}
		if len(members) < maxTagBatch {
			return n, nil
		}
	}
	return n, nil // what is left was stored during the purge, after its fence
}
