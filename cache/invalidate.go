package cache

import (
	"context"
	"strings"
	"time"
)

// An Invalidator is a tier that removes entries by key, tag and path prefix
// itself, in one call: a shared tier holds entries that other nodes stored,
// which no node's own TagIndex knows, so a purge must reach them through
// the tier. The gateway calls it once per purge, from the node the purge
// was made on.
//
// Invalidate removes the entries under Keys, every entry stored with one
// of Tags, and every entry whose key's path (PathOf) starts with one of
// Prefixes. A tier may remove more for a prefix than it names, never less:
// one that indexes paths by segment (PrefixTags) removes what is under the
// prefix's last segment boundary. It returns how many entries it removed,
// as far as it knows.
//
// Invalidation also fences what comes after it: a Set of an entry whose
// fill started (RequestTime) before an Invalidate that named its key, one
// of its tags or a prefix of its path does not keep the entry, for as long
// as such a fill can take (FenceFor). A node whose fill was overtaken by a
// purge it had not yet heard of cannot write the old response back.
type Invalidator interface {
	Tier
	Invalidate(ctx context.Context, inv Invalidation) (int, error)
}

// A Replacer is an Invalidator that can store the entry a write put in
// place of what its invalidation removed (a write-through: the answer to a
// PUT that carries the resource's new state). Replace stores like Set, but
// only the fences of invalidations made after `after` refuse the entry:
// the write's own invalidation, done by then, would refuse it although its
// state is newer. The gateway calls Replace only after the write's own
// invalidation was applied to the tier. A Set of a fill that started
// before that invalidation of the key, reaching the tier after Replace, is
// refused before it is stored: it neither replaces nor removes the
// write's entry.
type Replacer interface {
	Invalidator
	Replace(ctx context.Context, key string, e *Entry, after time.Time) error
}

// FenceFor is how long an Invalidator keeps refusing entries whose fill
// started before an invalidation that covers them: longer than a fill and
// its queued L2 write can take.
const FenceFor = 2 * time.Minute

// Invalidation names what Invalidator.Invalidate removes.
type Invalidation struct {
	Keys     []string
	Tags     []string
	Prefixes []string
}

// Empty reports whether inv names nothing.
func (inv Invalidation) Empty() bool {
	return len(inv.Keys)+len(inv.Tags)+len(inv.Prefixes) == 0
}

// PathOf returns the path (with query) of an entry's key: the key grammar
// is "METHOD scheme://host/path?query", optionally followed by a NUL and
// the parts that tell scopes, variants and versions apart.
func PathOf(key string) string {
	_, rest, ok := strings.Cut(key, "://")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	rest = rest[i:]
	if j := strings.IndexByte(rest, 0); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// MaxPrefixDepth is the deepest path segment boundary PrefixTags names: a
// prefix purge deeper than it removes everything under that depth.
const MaxPrefixDepth = 8

// prefixTagStart keeps prefix tags apart from any tag an origin can name
// (those never hold a NUL).
const prefixTagStart = "\x00pfx "

// PrefixTags returns the tags a tier that indexes paths by segment gives
// an entry whose key has path p: one per segment boundary ("/", "/a/",
// "/a/b/"…) up to MaxPrefixDepth, the query ignored.
func PrefixTags(path string) []string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path == "" || path[0] != '/' {
		return nil
	}
	tags := make([]string, 0, 4)
	for i := 0; i < len(path) && len(tags) <= MaxPrefixDepth; i++ {
		if path[i] == '/' {
			tags = append(tags, prefixTagStart+path[:i+1])
		}
	}
	return tags
}

// PrefixTag returns the one tag of PrefixTags that covers every path with
// the given prefix: that of the prefix's last segment boundary, at most
// MaxPrefixDepth deep.
func PrefixTag(prefix string) string {
	if i := strings.IndexByte(prefix, '?'); i >= 0 {
		prefix = prefix[:i]
	}
	end, depth := 0, 0
	for i := 0; i < len(prefix) && depth <= MaxPrefixDepth; i++ {
		if prefix[i] == '/' {
			end, depth = i+1, depth+1
		}
	}
	if end == 0 {
		end = 1 // no boundary: everything under "/"
		prefix = "/"
	}
	return prefixTagStart + prefix[:end]
}
