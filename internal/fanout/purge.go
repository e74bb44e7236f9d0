package fanout

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
)

// Purge is one invalidation to forward. Its fields mirror moat's admin purge API.
type Purge struct {
	Tags     []string // surrogate keys
	URLs     []string // absolute URLs
	Prefixes []string // path prefixes
	Routes   []string // route patterns, e.g. "GET /api/products/{id}"
	All      bool     // everything
	Soft     bool     // mark stale instead of deleting

	// ID identifies the purge across retries and layers; it is sent as the Idempotency-Key
	// header and the "id" field. Enqueue fills it with NewID if it is empty. Set it yourself
	// to log it, or to keep the ID of a purge that arrived from another layer.
	ID string
}

// empty reports whether p selects nothing; such a purge is not sent.
func (p *Purge) empty() bool {
	return !p.All && len(p.Tags) == 0 && len(p.URLs) == 0 && len(p.Prefixes) == 0 && len(p.Routes) == 0
}

// wirePurge is the JSON body of a delivery.
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

// body encodes p once for every target and every attempt: the bytes are shared and never
// written after this returns, so the caller may reuse p's slices as soon as Enqueue returns.
func (p *Purge) body() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // URLs with '&' stay readable in a CDN's logs
	err := enc.Encode(wirePurge{
		Tags: p.Tags, URLs: p.URLs, Prefixes: p.Prefixes, Routes: p.Routes,
		All: p.All, Soft: p.Soft, ID: p.ID, Origin: Origin,
	})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// NewID returns a new random purge ID: 32 hex digits from crypto/rand.
func NewID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}
