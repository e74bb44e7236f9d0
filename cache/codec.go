package cache

// The binary encoding of an Entry, for tiers shared by many nodes (Redis,
// Memcached). Format version 1, in order:
//
//	version      1 byte   formatV1 (1); any other value is an error, so nodes
//	                      of different versions see each other's entries as
//	                      misses, never misread them
//	shared       uvarint  total bytes of the strings marked shared below,
//	                      which the decoder keeps in one string
//	tagBytes     uvarint  total bytes of the tags (kept in another)
//	elems        uvarint  total elements of the Header value lists, Vary and Tags
//	ID           8 bytes  little-endian (random: a varint would take 10)
//	flags        uvarint  bit 0 NoCache, 1 MustRevalidate, 2 AuthShareable,
//	                      3 VaryMarker, 4 HitForMiss, 5 RequestTime set,
//	                      6 ResponseTime set, 7 KeepUntil set, 8 ETag is the
//	                      first Etag header value, 9 LastModified is the
//	                      first Last-Modified value; other bits are an error
//	Status       varint
//	RequestTime  varint   UnixNano, present only if its flag is set (a zero
//	ResponseTime varint   time is not written and decodes as the zero time)
//	KeepUntil    varint
//	InitialAge, Lifetime, StaleWhileRevalidate, StaleIfError, FetchTime
//	             varint   nanoseconds each
//	IdentitySize varint
//	VaryEpoch    uvarint
//	Key, Route   string
//	NotStoredReason
//	             string   shared
//	Coding       string
//	ETag, LastModified
//	             string   shared; absent if its flag (8, 9) is set: the
//	                      decoder takes the header's value, as the gateway
//	                      does when it builds an entry
//	Header       list     of fields: name string (shared), values list of
//	                      strings (shared)
//	Vary         list     of strings (shared)
//	Tags         list     of strings
//	Body         bytes    uvarint n+1 (0 for nil), then n bytes; nothing may
//	                      follow
//
// A string is a uvarint length and its bytes. A list is a uvarint n+1, 0
// for a nil slice or map, then its n elements. Varints are those of
// encoding/binary (zigzag for signed values). Header fields are written in
// sorted order, so one entry always encodes to the same bytes.
//
// The counts up front let the decoder allocate each kind of thing once:
// the Entry, the header map (two allocations up to 8 fields), one []string
// that backs every value list, Vary and Tags (each sliced with len == cap),
// one string holding all the shared strings, one holding all the tags, Key,
// and the Body: 8 allocations for a typical entry. Key and the tags are
// kept apart from the shared string because tiers and the TagIndex keep
// them as map keys beyond the entry's life, and a substring of the shared
// string would pin every header of the entry. (A tag so kept pins the
// entry's other tags, as it pins the Surrogate-Key line of an entry the
// gateway builds.) Route and Coding are interned (unique.Make), so decoded
// entries share them as built ones do: Entry.Size does not count them. Body
// is an exact-size copy that never aliases the input. Entry.Size thus holds
// for decoded entries (TestDecodedSizeIsHonest).
//
// Every count and length is checked against the input that remains before
// anything is allocated from it, and the decoder accepts nothing that the
// encoder could not have written (unknown flags, duplicate header names,
// counts that disagree, trailing bytes), so a successful decode re-encodes
// to an equal entry.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"time"
	"unique"
)

// ErrBadEncoding is wrapped by the errors of DecodeEntry: the input is
// truncated, malformed or of an unknown format version. A shared tier
// treats it as a miss.
var ErrBadEncoding = errors.New("cache: bad entry encoding")

// formatV1 is the version byte of the format described above. A change to
// the format takes a new version; entries written under the old one then
// decode as errors (misses) and are replaced by fills.
const formatV1 = 1

const (
	flagNoCache = 1 << iota
	flagMustRevalidate
	flagAuthShareable
	flagVaryMarker
	flagHitForMiss
	flagRequestTime
	flagResponseTime
	flagKeepUntil
	flagETagInHeader
	flagLastModifiedInHeader
	flagsKnown = 1<<iota - 1
)

// NewEntryID returns a random non-zero Entry.ID. The IDs of entries stored
// by many nodes over many restarts must not repeat, hence 64 random bits
// rather than a counter.
func NewEntryID() uint64 {
	for {
		if id := rand.Uint64(); id != 0 {
			return id
		}
	}
}

// AppendEntry appends the encoding of e (format version 1, described at
// the top of this file) to dst and returns the extended buffer. It grows
// dst at most once, to the exact size.
//
// Times are written as Unix nanoseconds: they lose their monotonic reading
// and location (a decoded time is in time.Local), and times outside the
// years 1678 to 2262 are clamped to that range.
func AppendEntry(dst []byte, e *Entry) []byte {
	var buf [16]headerField
	fields := sortedFields(buf[:0], e.Header)
	f := entryFlags(e)
	c := encodedSizes(e, f, fields)
	dst = slices.Grow(dst, c.size)
	dst = append(dst, formatV1)
	dst = binary.AppendUvarint(dst, uint64(c.shared))
	dst = binary.AppendUvarint(dst, uint64(c.tagBytes))
	dst = binary.AppendUvarint(dst, uint64(c.elems))
	dst = binary.LittleEndian.AppendUint64(dst, e.ID)
	dst = binary.AppendUvarint(dst, f)
	dst = binary.AppendVarint(dst, int64(e.Status))
	for _, t := range [...]time.Time{e.RequestTime, e.ResponseTime, e.KeepUntil} {
		if !t.IsZero() {
			dst = binary.AppendVarint(dst, unixNano(t))
		}
	}
	for _, d := range [...]time.Duration{e.InitialAge, e.Lifetime, e.StaleWhileRevalidate, e.StaleIfError, e.FetchTime} {
		dst = binary.AppendVarint(dst, int64(d))
	}
	dst = binary.AppendVarint(dst, int64(e.IdentitySize))
	dst = binary.AppendUvarint(dst, e.VaryEpoch)
	for _, s := range [...]string{e.Key, e.Route, e.NotStoredReason, e.Coding} {
		dst = appendString(dst, s)
	}
	if f&flagETagInHeader == 0 {
		dst = appendString(dst, e.ETag)
	}
	if f&flagLastModifiedInHeader == 0 {
		dst = appendString(dst, e.LastModified)
	}
	if e.Header == nil {
		dst = append(dst, 0)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(fields))+1)
		for _, hf := range fields {
			dst = appendString(dst, hf.name)
			dst = appendStrings(dst, hf.values)
		}
	}
	dst = appendStrings(dst, e.Vary)
	dst = appendStrings(dst, e.Tags)
	if e.Body == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(e.Body))+1)
	return append(dst, e.Body...)
}

// A headerField is one field of an entry's header, to be encoded.
type headerField struct {
	name   string
	values []string
}

// sortedFields appends the fields of h to dst in the order of their names.
// It sorts by insertion: a header has few fields, and slices.SortFunc
// takes a third of AppendEntry's time for eight.
func sortedFields(dst []headerField, h http.Header) []headerField {
	for k, vs := range h {
		dst = append(dst, headerField{})
		i := len(dst) - 1
		for ; i > 0 && dst[i-1].name > k; i-- {
			dst[i] = dst[i-1]
		}
		dst[i] = headerField{k, vs}
	}
	return dst
}

// entrySizes are the counts at the head of an encoding, and its length.
type entrySizes struct {
	shared, tagBytes, elems int
	size                    int
}

// encodedSizes counts the encoding of e, whose flags are f and header
// fields are fields.
func encodedSizes(e *Entry, f uint64, fields []headerField) entrySizes {
	var c entrySizes
	n := 1 + 8 + uvarintLen(f) + varintLen(int64(e.Status)) +
		varintLen(int64(e.IdentitySize)) + uvarintLen(e.VaryEpoch)
	for _, t := range [...]time.Time{e.RequestTime, e.ResponseTime, e.KeepUntil} {
		if !t.IsZero() {
			n += varintLen(unixNano(t))
		}
	}
	for _, d := range [...]time.Duration{e.InitialAge, e.Lifetime, e.StaleWhileRevalidate, e.StaleIfError, e.FetchTime} {
		n += varintLen(int64(d))
	}
	n += stringLen(e.Key) + stringLen(e.Route) + stringLen(e.Coding)
	c.shared += len(e.NotStoredReason)
	n += stringLen(e.NotStoredReason)
	if f&flagETagInHeader == 0 {
		c.shared += len(e.ETag)
		n += stringLen(e.ETag)
	}
	if f&flagLastModifiedInHeader == 0 {
		c.shared += len(e.LastModified)
		n += stringLen(e.LastModified)
	}
	n += listLen(e.Header == nil, len(e.Header))
	for _, hf := range fields {
		c.shared += len(hf.name)
		c.elems += len(hf.values)
		n += stringLen(hf.name) + listLen(hf.values == nil, len(hf.values))
		for _, v := range hf.values {
			c.shared += len(v)
			n += stringLen(v)
		}
	}
	c.elems += len(e.Vary) + len(e.Tags)
	n += listLen(e.Vary == nil, len(e.Vary)) + listLen(e.Tags == nil, len(e.Tags))
	for _, v := range e.Vary {
		c.shared += len(v)
		n += stringLen(v)
	}
	for _, t := range e.Tags {
		c.tagBytes += len(t)
		n += stringLen(t)
	}
	n += listLen(e.Body == nil, len(e.Body)) + len(e.Body)
	c.size = n + uvarintLen(uint64(c.shared)) + uvarintLen(uint64(c.tagBytes)) + uvarintLen(uint64(c.elems))
	return c
}

func entryFlags(e *Entry) uint64 {
	var f uint64
	if e.NoCache {
		f |= flagNoCache
	}
	if e.MustRevalidate {
		f |= flagMustRevalidate
	}
	if e.AuthShareable {
		f |= flagAuthShareable
	}
	if e.VaryMarker {
		f |= flagVaryMarker
	}
	if e.HitForMiss {
		f |= flagHitForMiss
	}
	if !e.RequestTime.IsZero() {
		f |= flagRequestTime
	}
	if !e.ResponseTime.IsZero() {
		f |= flagResponseTime
	}
	if !e.KeepUntil.IsZero() {
		f |= flagKeepUntil
	}
	if e.ETag != "" && firstHeaderValue(e.Header, "Etag") == e.ETag {
		f |= flagETagInHeader
	}
	if e.LastModified != "" && firstHeaderValue(e.Header, "Last-Modified") == e.LastModified {
		f |= flagLastModifiedInHeader
	}
	return f
}

// firstHeaderValue is h.Get(name) for a canonical name, without canonicalizing.
func firstHeaderValue(h http.Header, name string) string {
	if vs := h[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// The instants at the ends of the int64 nanoseconds since 1970, as
// seconds and nanoseconds (time.Unix(0, math.MinInt64) and MaxInt64).
const (
	minUnixSec, minUnixNsec = -9223372037, 145224192
	maxUnixSec, maxUnixNsec = 9223372036, 854775807
)

// unixNano is t.UnixNano, clamped where that is undefined.
func unixNano(t time.Time) int64 {
	s, ns := t.Unix(), t.Nanosecond()
	switch {
	case s < minUnixSec || s == minUnixSec && ns < minUnixNsec:
		return math.MinInt64
	case s > maxUnixSec || s == maxUnixSec && ns > maxUnixNsec:
		return math.MaxInt64
	}
	return t.UnixNano()
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendStrings(dst []byte, ss []string) []byte {
	if ss == nil {
		return append(dst, 0)
	}
	dst = binary.AppendUvarint(dst, uint64(len(ss))+1)
	for _, s := range ss {
		dst = appendString(dst, s)
	}
	return dst
}

func uvarintLen(x uint64) int { return (bits.Len64(x|1) + 6) / 7 }

func varintLen(x int64) int { return uvarintLen(uint64(x<<1) ^ uint64(x>>63)) }

func stringLen(s string) int { return uvarintLen(uint64(len(s))) + len(s) }

func listLen(isNil bool, n int) int {
	if isNil {
		return 1
	}
	return uvarintLen(uint64(n) + 1)
}

// DecodeEntry decodes an entry encoded by AppendEntry. It returns an error
// wrapping ErrBadEncoding if b is not exactly one such encoding. It never
// panics, and whatever b holds it allocates at most about 17 times len(b)
// (a []string as long as b's counts can describe) and 24 KiB (a header
// map).
//
// The entry shares no memory with b: b may be reused once DecodeEntry
// returns. Its times are in time.Local, without a monotonic reading.
func DecodeEntry(b []byte) (*Entry, error) {
	d := entryDecoder{b: b}
	if v := d.byte(); d.err == nil && v != formatV1 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrBadEncoding, v)
	}
	d.shared.n = d.length("shared string bytes")
	d.tags.n = d.length("tag bytes")
	elems := d.length("list elements")
	if d.shared.n+d.tags.n+elems > d.remaining() {
		// Each counted byte or element takes a byte of its own.
		d.fail("counts exceed the input")
	}
	e := &Entry{ID: d.fixed64()}
	f := d.uvarint()
	if d.err == nil && f&^flagsKnown != 0 {
		d.fail("unknown flags")
	}
	e.NoCache = f&flagNoCache != 0
	e.MustRevalidate = f&flagMustRevalidate != 0
	e.AuthShareable = f&flagAuthShareable != 0
	e.VaryMarker = f&flagVaryMarker != 0
	e.HitForMiss = f&flagHitForMiss != 0
	e.Status = d.int()
	if f&flagRequestTime != 0 {
		e.RequestTime = time.Unix(0, d.varint())
	}
	if f&flagResponseTime != 0 {
		e.ResponseTime = time.Unix(0, d.varint())
	}
	if f&flagKeepUntil != 0 {
		e.KeepUntil = time.Unix(0, d.varint())
	}
	e.InitialAge = time.Duration(d.varint())
	e.Lifetime = time.Duration(d.varint())
	e.StaleWhileRevalidate = time.Duration(d.varint())
	e.StaleIfError = time.Duration(d.varint())
	e.FetchTime = time.Duration(d.varint())
	e.IdentitySize = d.int()
	e.VaryEpoch = d.uvarint()
	if d.err != nil {
		return nil, d.err
	}

	// The entrySizes were checked against the bytes that remain: each byte of
	// a string is one of them, each list element takes at least one.
	d.shared.b.Grow(d.shared.n)
	d.tags.b.Grow(d.tags.n)
	d.elems = make([]string, elems)

	e.Key = string(d.string())
	e.Route = internString(d.string())
	e.NotStoredReason = d.take(&d.shared)
	e.Coding = internString(d.string())
	if f&flagETagInHeader == 0 {
		e.ETag = d.take(&d.shared)
	}
	if f&flagLastModifiedInHeader == 0 {
		e.LastModified = d.take(&d.shared)
	}
	if n, ok := d.list("header fields"); ok {
		// Each field takes at least two bytes. Past 256 fields (never
		// seen in a response) the map grows as it fills instead: a hint is
		// rounded up to a power of two, and a length field that lies would
		// then cost 48 times the input.
		e.Header = make(http.Header, min(n, d.remaining()/2, 256))
		for range n {
			k := d.take(&d.shared)
			vs := d.strings("header values", &d.shared)
			if d.err != nil {
				break
			}
			e.Header[k] = vs
		}
		if d.err == nil && len(e.Header) != n {
			d.fail("duplicate header fields")
		}
	}
	if f&flagETagInHeader != 0 {
		if e.ETag = firstHeaderValue(e.Header, "Etag"); e.ETag == "" {
			d.fail("no Etag field for the ETag")
		}
	}
	if f&flagLastModifiedInHeader != 0 {
		if e.LastModified = firstHeaderValue(e.Header, "Last-Modified"); e.LastModified == "" {
			d.fail("no Last-Modified field for LastModified")
		}
	}
	e.Vary = d.strings("vary", &d.shared)
	e.Tags = d.strings("tags", &d.tags)
	if n, ok := d.list("body"); ok {
		e.Body = append(make([]byte, 0, n), d.bytes(n)...)
	}
	switch {
	case d.err != nil:
	case d.off != len(d.b):
		d.fail("trailing bytes")
	case d.shared.b.Len() != d.shared.n || d.tags.b.Len() != d.tags.n:
		d.fail("string bytes disagree with their count")
	case len(d.elems) != 0:
		d.fail("list elements disagree with their count")
	}
	if d.err != nil {
		return nil, d.err
	}
	return e, nil
}

// internString returns p as a string shared with every other user of its value.
func internString(p []byte) string {
	if len(p) == 0 {
		return ""
	}
	return unique.Make(string(p)).Value()
}

// entryDecoder reads an encoding. Its first error sticks: later reads return
// zero values and consume nothing.
type entryDecoder struct {
	b   []byte
	off int
	err error

	shared, tags stringArena
	elems        []string // not yet handed out to a list
}

// A stringArena holds strings in one allocation of n bytes.
type stringArena struct {
	b strings.Builder
	n int
}

// take reads a string into a.
func (d *entryDecoder) take(a *stringArena) string {
	p := d.string()
	start := a.b.Len()
	if len(p) > a.n-start {
		d.fail("string bytes exceed their count")
		return ""
	}
	a.b.Write(p)
	return a.b.String()[start:]
}

func (d *entryDecoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", ErrBadEncoding, what, d.off)
	}
	d.off = len(d.b)
}

func (d *entryDecoder) remaining() int { return len(d.b) - d.off }

func (d *entryDecoder) byte() byte {
	if d.remaining() < 1 {
		d.fail("truncated")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *entryDecoder) fixed64() uint64 {
	if d.remaining() < 8 {
		d.fail("truncated")
		return 0
	}
	d.off += 8
	return binary.LittleEndian.Uint64(d.b[d.off-8:])
}

func (d *entryDecoder) uvarint() uint64 {
	if d.off < len(d.b) && d.b[d.off] < 0x80 { // most lengths and counts
		d.off++
		return uint64(d.b[d.off-1])
	}
	x, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.off += n
	return x
}

func (d *entryDecoder) varint() int64 {
	x, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated or overlong varint")
		return 0
	}
	d.off += n
	return x
}

func (d *entryDecoder) int() int {
	x := d.varint()
	if int64(int(x)) != x {
		d.fail("integer out of range")
		return 0
	}
	return int(x)
}

// length reads a count of bytes or elements that the rest of the input must
// hold.
func (d *entryDecoder) length(what string) int {
	x := d.uvarint()
	if x > uint64(d.remaining()) {
		d.fail(what + ": length exceeds the input")
		return 0
	}
	return int(x)
}

// list reads the header of a list: its length, and false for a nil one.
func (d *entryDecoder) list(what string) (int, bool) {
	x := d.uvarint()
	switch {
	case x == 0 || d.err != nil:
		return 0, false
	case x-1 > uint64(d.remaining()):
		d.fail(what + ": length exceeds the input")
		return 0, false
	}
	return int(x - 1), true
}

func (d *entryDecoder) bytes(n int) []byte {
	if n > d.remaining() {
		d.fail("truncated")
		return nil
	}
	d.off += n
	return d.b[d.off-n : d.off : d.off]
}

// string reads a string's bytes (a slice of the input).
func (d *entryDecoder) string() []byte { return d.bytes(d.length("string")) }

// strings reads a list of strings into a. The list has len == cap.
func (d *entryDecoder) strings(what string, a *stringArena) []string {
	n, ok := d.list(what)
	if !ok {
		return nil
	}
	if n > len(d.elems) {
		d.fail(what + ": more list elements than counted")
		return nil
	}
	ss := d.elems[:n:n]
	d.elems = d.elems[n:]
	for i := range ss {
		ss[i] = d.take(a)
	}
	return ss
}
