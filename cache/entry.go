package cache

import (
	"net/http"
	"time"

	"github.com/moatproxy/moat/internal/httpcache"
)

// Entry is one stored response.
//
// Entries are immutable once stored: readers share them without locks, so
// code that wants a different entry builds a new one (see Clone). Header
// values are stored with len == cap, so an append by a downstream handler to a
// value slice copied out of an entry reallocates instead of writing into the
// shared array.
type Entry struct {
	// Key is the canonical key the entry was stored under; a tier that
	// indexes by a hash compares it on lookup.
	Key string
	// Route is the pattern of the route that stored the entry ("" for none).
	Route string
	// ID identifies one stored response across tiers and encodings; set
	// when the entry is built (a random non-zero value, see NewEntryID),
	// kept by Clone and the codec. Compare IDs, never pointers: an entry
	// decoded from a shared tier is a new pointer on every Get.
	ID uint64

	Status int
	Header http.Header // response header fields, hop-by-hop fields removed
	Body   []byte

	// RequestTime and ResponseTime bracket the origin exchange that produced
	// the entry; with InitialAge they give the age arithmetic of RFC 9111
	// §4.2.3.
	RequestTime  time.Time
	ResponseTime time.Time
	InitialAge   time.Duration
	// Lifetime is the freshness lifetime (RFC 9111 §4.2.1, or the route's
	// TTL where policy says so).
	Lifetime time.Duration

	// StaleWhileRevalidate and StaleIfError are how long past Lifetime the
	// entry may be served while it is refreshed in the background, or
	// instead of an origin error (RFC 5861). Never with MustRevalidate.
	StaleWhileRevalidate time.Duration
	StaleIfError         time.Duration
	// FetchTime is how long the origin took to produce the entry: XFetch's
	// delta, which scales how early a refresh may start.
	FetchTime time.Duration

	// NoCache: the entry must be validated with the origin before each use
	// (response Cache-Control: no-cache, RFC 9111 §5.2.2.4).
	NoCache bool
	// MustRevalidate: once stale, the entry must not be served without
	// successful validation (must-revalidate, proxy-revalidate, s-maxage;
	// RFC 9111 §5.2.2.2, §5.2.2.8, §5.2.2.10).
	MustRevalidate bool
	// AuthShareable: the response may answer a request that carries
	// Authorization (public, s-maxage or must-revalidate; RFC 9111 §3.5).
	AuthShareable bool

	// VaryMarker entries carry no response: they record that responses for
	// this key vary on the request header fields in Vary, and that each
	// variant is stored under a secondary key built from their values.
	VaryMarker bool
	Vary       []string
	// VaryEpoch distinguishes successive markers of one key: variant keys
	// include it, so variants stored under a removed marker stay
	// unreachable when a new marker takes its place.
	VaryEpoch uint64

	// HitForMiss entries carry no response: they record that the last
	// fill of this key was not storable, so requests for it go to the
	// origin in parallel instead of queueing behind one another's coalesced
	// fills (Varnish's hit-for-miss). A storable response replaces them.
	HitForMiss bool
	// NotStoredReason, on a HitForMiss marker, says why the response was
	// not storable (for inspection).
	NotStoredReason string

	// Coding is the content-coding the body is stored in ("", "gzip", "br",
	// "zstd") when the cache compressed it; IdentitySize is then the
	// decoded length, for clients that get it decoded.
	Coding       string
	IdentitySize int

	// ETag and LastModified are the validators, kept apart from Header for
	// conditional requests and revalidation.
	ETag         string
	LastModified string

	// Tags are the entry's surrogate keys (from origin headers and route
	// templates): a tag purge removes every entry carrying the tag.
	Tags []string

	// KeepUntil is when a tier may drop the entry: the end of its freshness
	// plus the time it stays useful stale (revalidation with validators).
	KeepUntil time.Time
}

// Age returns the entry's current age at now (RFC 9111 §4.2.3): its age
// when received plus the time it has been resident, which is never
// negative (an entry another node received on a clock ahead of this one's
// is as old as when it was received).
func (e *Entry) Age(now time.Time) time.Duration {
	return httpcache.CurrentAge(e.InitialAge, e.ResponseTime, now)
}

// TTL returns the remaining freshness at now; negative once stale.
func (e *Entry) TTL(now time.Time) time.Duration {
	return e.Lifetime - e.Age(now)
}

// Fresh reports whether the entry may be served without contacting the
// origin at now (ignoring request directives).
func (e *Entry) Fresh(now time.Time) bool {
	return !e.NoCache && e.TTL(now) > 0
}

// Staleness returns how long the entry has been stale at now (0 while
// fresh).
func (e *Entry) Staleness(now time.Time) time.Duration {
	return max(-e.TTL(now), 0)
}

// Validatable reports whether the entry carries a validator the origin can
// answer with 304.
func (e *Entry) Validatable() bool {
	return e.ETag != "" || e.LastModified != ""
}

// Size is the weight of the entry in a byte-bounded tier: an estimate, a
// little on the high side, of the heap the entry costs while it is stored in
// a Memory tier whose removals feed a TagIndex. Besides the body it counts
// what a stored response costs around it: the Entry struct, the tier's node,
// hash table slot and frequency counters (entryOverhead), the header map and
// the strings and slices it holds, each rounded up to the allocator's size
// class, and for each tag its slot in the TagIndex (tagPairBytes), so that
// the index lives inside the budget too. TestSizeIsHonest checks it against
// the heap on amd64. The estimate it replaces, the bytes of the body and
// fields plus 16 a field, let the heap reach 1.4 times the budget with
// 1 KiB responses, 1.8 to 2.4 times with tiny ones and 2 to 6 times with 64
// tags a response.
//
// Route and Coding are not counted: they hold a route pattern and a
// constant that every entry shares. Header names are counted without
// rounding, since net/http interns the common ones; ETag and LastModified
// are counted although they usually share the header's string. Size
// allocates nothing and walks the header and tags once.
func (e *Entry) Size() int {
	n := entryOverhead + allocSize(len(e.Key)) + allocSize(cap(e.Body)) +
		allocSize(len(e.ETag)) + allocSize(len(e.LastModified)) + allocSize(len(e.NotStoredReason))
	fields := len(e.Header)
	if len(e.Tags) > 0 {
		fields++ // the map was made for the origin's fields, the tag field included
	}
	n += headerMapSize(fields)
	for k, vs := range e.Header {
		n += len(k) + allocSize(cap(vs)*stringHeaderBytes)
		for _, v := range vs {
			n += allocSize(len(v))
		}
	}
	n += allocSize(cap(e.Vary) * stringHeaderBytes)
	for _, v := range e.Vary {
		n += allocSize(len(v))
	}
	n += allocSize(cap(e.Tags) * stringHeaderBytes)
	for _, t := range e.Tags {
		n += allocSize(len(t)) + tagPairBytes
	}
	return n
}

// Costs behind Size, in bytes (64-bit platforms; smaller elsewhere).
const (
	// entryOverhead is what every stored entry costs besides its strings,
	// slices and header map: the Entry struct (336 bytes, a 352-byte size
	// class), the memory tier's bookkeeping (96: its 64-byte node, otter's
	// 24-byte node and the expiry heap's 8-byte slot; see node in
	// memory.go), its share of otter's hash table (17 to 34 at a load factor
	// of 0.75) and of the admission sketch (8 to 16).
	entryOverhead = 352 + 96 + 34 + 16
	// stringHeaderBytes is the size of a string header, the element of a
	// []string.
	stringHeaderBytes = 16
	// tagPairBytes is what one (tag, key) pair costs in a TagIndex: for
	// a tag many entries share, a slot of 24 bytes and a control byte in a
	// Go map 7/16 to 7/8 full (29 to 57 bytes); for a tag of this entry
	// alone, such a slot in the map of tags and a 32-byte tagSet (61 to 89,
	// up to 97 measured in a map churned by evictions). The value covers
	// all but the worst of the second and overstates the first, which is
	// what a flood of junk variants of one tagged resource produces.
	tagPairBytes = 88

	// A Go map costs 48 bytes, plus groups of 8 slots with a control
	// word each, at most 7/8 full; a map of more than 8 slots adds a table
	// header and a directory.
	mapHeaderBytes   = 48
	headerGroupBytes = 8*(stringHeaderBytes+24) + 8 // http.Header slot: string key, []string value
	mapTableBytes    = 48 + 8
)

// headerMapSize estimates the bytes of an http.Header of n fields: the map
// itself, without its keys and values.
func headerMapSize(n int) int {
	switch {
	case n == 0:
		return mapHeaderBytes
	case n <= 8:
		return mapHeaderBytes + allocSize(headerGroupBytes)
	}
	slots := 16
	for slots*7/8 < n {
		slots *= 2
	}
	return mapHeaderBytes + mapTableBytes + allocSize(slots/8*headerGroupBytes)
}

// largeClasses are the Go allocator's size classes from 1 KiB to 32 KiB
// (internal/runtime/gc.SizeClassToSize; below 1 KiB allocSize computes
// them). They have not changed since Go 1.17.
var largeClasses = [...]uint16{1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

// allocSize is the heap a single allocation of n bytes takes: its size
// class, whole 8 KiB pages above 32 KiB, and n itself below 16 bytes,
// where the allocator packs pointer-free objects together. Most calls are
// for short strings, which take the first cases.
func allocSize(n int) int {
	switch {
	case n < 16:
		return n
	case n <= 32:
		return (n + 7) &^ 7
	case n <= 256:
		return (n + 15) &^ 15
	case n <= 512:
		return (n + 31) &^ 31
	case n <= 768:
		return (n + 63) &^ 63
	case n <= 896:
		return 896
	case n <= 1024:
		return 1024
	case n > 32768:
		return (n + 8191) &^ 8191
	}
	lo, hi := 0, len(largeClasses)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if int(largeClasses[mid]) < n {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return int(largeClasses[lo])
}
