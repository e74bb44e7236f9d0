package fanout

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The kinds of selector in a Purge, as named in logs and by adapters.
const (
	kindTags     = "tags"
	kindURLs     = "urls"
	kindPrefixes = "prefixes"
	kindRoutes   = "routes"
	kindAll      = "all"
)

// request is one HTTP request of a delivery: a purge, or one batch of it, in the target's own
// format. Requests are built once per delivery and never written afterwards, so that every
// attempt sends the same bytes.
type request struct {
	method string
	url    string
	host   string      // the Host to send, if not the URL's (Varnish: the purged URL's host)
	header http.Header // set over the configured headers
	body   []byte      // nil: no body
	kind   string      // what it purges (kindTags, ...), for logs
	items  int         // how many selectors it carries, for logs
}

// adapter speaks one target type's purge API. Its methods are called by the target's worker
// goroutine only.
type adapter interface {
	// requests turns p into the requests that carry it, to be sent in order, and names the
	// kinds of selector in p that the target cannot express: those are skipped. An error
	// means p cannot be sent at all (not expected).
	requests(p *Purge) (reqs []request, unsupported []string, err error)

	// authorize adds credentials to req just before each attempt: a signature may cover the
	// time (EdgeGrid). body is the request's body.
	authorize(req *http.Request, body []byte) error

	// judge refines o, the outcome as the status alone says, from the response and the start
	// of its body (at most maxJudgedBody bytes).
	judge(o outcome, resp *http.Response, body []byte) outcome
}

// maxJudgedBody is how much of a response's body an adapter may read to judge it.
const maxJudgedBody = 16 << 10

// plain is the adapter behaviour of a target with static credentials whose statuses say all:
// no per-attempt authorization and 2xx is success.
type plain struct{}

func (plain) authorize(*http.Request, []byte) error               { return nil }
func (plain) judge(o outcome, _ *http.Response, _ []byte) outcome { return o }

// newAdapter returns the adapter of t, which Validate accepted. now is the clock of signatures.
func newAdapter(t Target, now func() time.Time) adapter {
	switch t.kind() {
	case TypeCloudflare:
		return newCloudflare(t)
	case TypeFastly:
		return newFastly(t)
	case TypeAkamai:
		return newAkamai(t, now)
	case TypeVarnish:
		return newVarnish(t)
	default:
		return moatAdapter{url: t.URL}
	}
}

// endpoint returns the name of t's API endpoint for logs and Stats: displayURL of where its
// requests go, without credentials.
func endpoint(t Target) string {
	switch t.kind() {
	case TypeCloudflare:
		return displayURL(newCloudflare(t).endpoint)
	case TypeFastly:
		return displayURL(newFastly(t).base)
	case TypeAkamai:
		return displayURL(newAkamai(t, nil).base)
	default:
		return displayURL(t.URL)
	}
}

// baseURL is the API base of a CDN target: its URL if set, else def, without a trailing slash.
func baseURL(t Target, def string) string {
	if t.URL != "" {
		return strings.TrimSuffix(t.URL, "/")
	}
	return def
}

// chunks splits items into runs of at most n.
func chunks(items []string, n int) [][]string {
	var out [][]string
	for len(items) > 0 {
		k := min(n, len(items))
		out = append(out, items[:k:k])
		items = items[k:]
	}
	return out
}

// joinedChunks splits items into runs whose values joined by sep stay within max bytes. An item
// longer than max alone makes a run of its own (the target will refuse it).
func joinedChunks(items []string, sep string, max int) [][]string {
	var out [][]string
	start, size := 0, 0
	for i, it := range items {
		add := len(it)
		if i > start {
			add += len(sep)
		}
		if i > start && size+add > max {
			out = append(out, items[start:i:i])
			start, size, add = i, 0, len(it)
		}
		size += add
	}
	if start < len(items) {
		out = append(out, items[start:len(items):len(items)])
	}
	return out
}

// jsonBody encodes v without HTML escaping (URLs with '&' stay readable in a CDN's logs) and
// without the trailing newline.
func jsonBody(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// jsonHeader returns headers for a JSON request body plus kv pairs.
func jsonHeader(kv ...string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}
