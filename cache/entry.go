package cache

import (
	"net/http"
	"time"
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

// Age returns the entry's current age at now (RFC 9111 §4.2.3).
func (e *Entry) Age(now time.Time) time.Duration {
	age := e.InitialAge + now.Sub(e.ResponseTime)
	if age < 0 {
		return 0
	}
	return age
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

// Size estimates the memory the entry holds, in bytes: the weight used by
// byte-bounded tiers.
func (e *Entry) Size() int {
	n := 256 + len(e.Key) + len(e.Route) + len(e.Body) + len(e.ETag) + len(e.LastModified)
	for k, vs := range e.Header {
		n += len(k) + 16
		for _, v := range vs {
			n += len(v) + 16
		}
	}
	for _, v := range e.Vary {
		n += len(v) + 16
	}
	for _, t := range e.Tags {
		n += len(t) + 16
	}
	return n
}

// Clone returns a shallow copy of e whose Header map may be changed without
// affecting e (values are shared; they are never modified in place).
func (e *Entry) Clone() *Entry {
	c := *e
	c.Header = make(http.Header, len(e.Header))
	for k, v := range e.Header {
		c.Header[k] = v
	}
	return &c
}
