package fanout

import (
	"crypto/rand"
	"encoding/hex"
	"slices"
)

// Purge is one invalidation to forward. Its fields mirror moat's admin purge API.
type Purge struct {
	Tags     []string // surrogate keys
	URLs     []string // absolute URLs
	Prefixes []string // path prefixes
	Routes   []string // route patterns, e.g. "GET /api/products/{id}"
	All      bool     // everything
	Soft     bool     // mark stale instead of deleting

	// ID identifies the purge across retries and layers; a moat target gets it as the
	// Idempotency-Key header and the "id" field, other types in logs only. Enqueue fills it
	// with NewID if it is empty. Set it yourself to log it, or to keep the ID of a purge that
	// arrived from another layer.
	ID string
}

// empty reports whether p selects nothing; such a purge is not sent.
func (p *Purge) empty() bool {
	return !p.All && len(p.Tags) == 0 && len(p.URLs) == 0 && len(p.Prefixes) == 0 && len(p.Routes) == 0
}

// clone returns a deep copy of p, shared read-only by every target's job, so that the caller
// may reuse p's slices as soon as Enqueue returns.
func (p *Purge) clone() *Purge {
	c := *p
	c.Tags, c.URLs = slices.Clone(p.Tags), slices.Clone(p.URLs)
	c.Prefixes, c.Routes = slices.Clone(p.Prefixes), slices.Clone(p.Routes)
	return &c
}

// wirePurge is the JSON body of a delivery to a moat target.
type wirePurge struct {
	Tags     []string `json:"tags,omitempty"`
	URLs     []string `json:"urls,omitempty"`
	Prefixes []string `json:"prefixes,omitempty"`
	Routes   []string `json:"routes,omitempty"`
	All      bool     `json:"all,omitempty"`
	Soft     bool     `json:"soft,omitempty"`
	ID       string   `json:"id"`
	Origin   string   `json:"origin"`
}

// Origin is the "origin" field of every body moat sends.
const Origin = "moat"

// body encodes p for a moat target.
func (p *Purge) body() ([]byte, error) {
	return jsonBody(wirePurge{
		Tags: p.Tags, URLs: p.URLs, Prefixes: p.Prefixes, Routes: p.Routes,
		All: p.All, Soft: p.Soft, ID: p.ID, Origin: Origin,
	})
}

// NewID returns a new random purge ID: 32 hex digits from crypto/rand.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}
