// Package payload builds the JSON documents the benchmark origin serves, so
// that the origin and the ceiling server return byte-identical responses.
//
// Paths have the form /api/{kind}/{id}. The kind sets the body size and the
// caching headers:
//
//	1k, zipf, miss   ~1 KiB body, Cache-Control: public, max-age=300
//	16k              ~16 KiB body, Cache-Control: public, max-age=300
//	stampede         ~1 KiB body, Cache-Control: public, max-age=3
//
// Every response carries a strong ETag and a Last-Modified, as a typical API
// does, so caches may revalidate stale entries with a conditional request.
package payload

import (
	"bytes"
	"strconv"
	"strings"
)

// Kind describes one family of URLs.
type Kind struct {
	Name         string
	BodySize     int
	CacheControl string
}

// Kinds are the URL families the benchmark uses, by name.
var Kinds = map[string]Kind{
	"1k":       {"1k", 1024, "public, max-age=300"},
	"zipf":     {"zipf", 1024, "public, max-age=300"},
	"miss":     {"miss", 1024, "public, max-age=300"},
	"16k":      {"16k", 16 << 10, "public, max-age=300"},
	"stampede": {"stampede", 1024, "public, max-age=" + strconv.Itoa(StampedeMaxAge)},
}

// StampedeMaxAge is the freshness lifetime, in seconds, of the stampede
// documents: short, so the benchmark waits little for one to go stale, but
// longer than a 1,000-request stampede lasts on a busy two-core machine, so
// that the refreshed copy does not itself go stale during the stampede.
const StampedeMaxAge = 3

// LastModified is the fixed Last-Modified of every document.
const LastModified = "Mon, 02 Jan 2006 15:04:05 GMT"

// ContentType is the media type of every document.
const ContentType = "application/json"

// Split parses "/api/{kind}/{id}". ok is false for any other path or an
// unknown kind.
func Split(path string) (k Kind, id string, ok bool) {
	rest, found := strings.CutPrefix(path, "/api/")
	if !found {
		return Kind{}, "", false
	}
	name, id, found := strings.Cut(rest, "/")
	if !found || id == "" || strings.Contains(id, "/") {
		return Kind{}, "", false
	}
	k, ok = Kinds[name]
	if !ok {
		return Kind{}, "", false
	}
	return k, id, true
}

const filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. "

// Body returns the JSON document for id of kind k: exactly k.BodySize bytes
// when id is short (under ~100 bytes), a little more otherwise.
func Body(k Kind, id string) []byte {
	var b bytes.Buffer
	b.Grow(k.BodySize + 64)
	b.WriteString(`{"id":`)
	b.WriteString(strconv.Quote(id))
	b.WriteString(`,"kind":"`)
	b.WriteString(k.Name)
	b.WriteString(`","name":"Item `)
	b.WriteString(id)
	b.WriteString(`","price":{"amount":1999,"currency":"EUR"},"tags":["bench","moat","json"],"description":"`)
	const tail = `"}`
	for b.Len() < k.BodySize-len(tail) {
		n := min(len(filler), k.BodySize-len(tail)-b.Len())
		b.WriteString(filler[:n])
	}
	b.WriteString(tail)
	return b.Bytes()
}

// ETag returns the strong entity tag of id's document of kind k.
func ETag(k Kind, id string) string {
	return `"` + k.Name + "-" + id + `-v1"`
}
