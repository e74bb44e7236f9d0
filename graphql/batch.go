package graphql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/httpcache"
)

// A batch gathers the fills of one client request's root fields into one
// origin request. Each root field is a subrequest through the cache; the
// batch waits until every subrequest has settled: answered from the cache,
// waiting on another request's fill of the same key (this node's or, with
// a lease, another node's), or arrived at RoundTrip to be fetched. Then the
// fields that arrived are asked of the origin in one query, and each fill
// gets its own field's answer to store.
//
// A fill that arrives after its batch fired (a waiter whose leader failed,
// a background refresh) is fetched alone.
type batch struct {
	mu      sync.Mutex
	pending int
	fired   bool
	waiting []*arrival
	h       *Handler
	next    http.RoundTripper
	ext     json.RawMessage // the origin response's extensions, for the client
}

// fieldCall is one root field's subrequest, in its context.
type fieldCall struct {
	batch   *batch
	f       *field
	op      *operation
	pol     policyOf
	settled sync.Once
}

type fieldCallKey struct{}

type arrival struct {
	fc   *fieldCall
	out  *http.Request
	resp *http.Response
	err  error
	done chan struct{}
}

// settle records that fc's subrequest needs nothing more of the batch,
// and fires the batch when it was the last.
func (b *batch) settle(fc *fieldCall) {
	if fire := b.settled(fc); len(fire) > 0 {
		b.mu.Lock()
		h, next := b.h, b.next
		b.mu.Unlock()
		go h.fetch(b, next, fire) // the settling goroutine has no answer to wait for
	}
}

// settled records that fc settled and returns the arrivals to fetch if
// that fired the batch.
func (b *batch) settled(fc *fieldCall) (fire []*arrival) {
	fc.settled.Do(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.pending--
		if b.pending == 0 && !b.fired {
			b.fired = true
			fire, b.waiting = b.waiting, nil
		}
	})
	return fire
}

func (b *batch) roundTrip(h *Handler, fc *fieldCall, out *http.Request, next http.RoundTripper) (*http.Response, error) {
	a := &arrival{fc: fc, out: out, done: make(chan struct{})}
	b.mu.Lock()
	if b.fired {
		b.mu.Unlock()
		h.fetch(nil, next, []*arrival{a})
		return a.resp, a.err
	}
	b.waiting = append(b.waiting, a)
	b.h, b.next = h, next
	b.mu.Unlock()
	if fire := b.settled(fc); len(fire) > 0 {
		// The last to settle fetches, on its own goroutine: it waits for
		// the answer anyway.
		h.fetch(b, next, fire)
	}
	select {
	case <-a.done:
		return a.resp, a.err
	case <-out.Context().Done():
		return nil, out.Context().Err()
	}
}

// fetch asks the origin for the root fields of arrivals in one query and
// answers each arrival with its own field.
func (h *Handler) fetch(b *batch, next http.RoundTripper, arrivals []*arrival) {
	defer func() {
		for _, a := range arrivals {
			close(a.done)
		}
	}()
	first := arrivals[0]
	fields := make([]*field, len(arrivals))
	for i, a := range arrivals {
		fields[i] = a.fc.f
	}
	query, vars := printQuery(first.fc.op.kind, first.fc.op.dirs, fields)
	body, _ := json.Marshal(struct {
		Query     string          `json:"query"`
		Variables json.RawMessage `json:"variables"`
	}{query, vars})
	req := first.out.Clone(first.out.Context())
	req.Method = http.MethodPost
	u := *req.URL
	u.RawQuery = ""
	req.URL = &u
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	req.Header.Del("Accept-Encoding") // the transport asks for gzip and decodes it
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/json;q=0.9")
	for _, k := range [...]string{"If-None-Match", "If-Modified-Since", "Range", "If-Range"} {
		req.Header.Del(k)
	}
	release, ok := h.sub.Acquire(req.Context(), false)
	if !ok {
		// The origin limits are reached: every field is answered 503 (the
		// engine serves what stale-if-error allows instead).
		for _, a := range arrivals {
			a.resp = busy(a.out)
		}
		return
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		release()
		for _, a := range arrivals {
			a.err = err
		}
		return
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, h.o.MaxResponse+1))
	resp.Body.Close()
	release()
	if err == nil && int64(len(data)) > h.o.MaxResponse {
		err = fmt.Errorf("graphql: origin response larger than %d bytes", h.o.MaxResponse)
	}
	if err != nil {
		for _, a := range arrivals {
			a.err = err
		}
		return
	}
	var res struct {
		Data       map[string]json.RawMessage `json:"data"`
		Errors     []map[string]any           `json:"errors"`
		Extensions json.RawMessage            `json:"extensions"`
	}
	if resp.StatusCode != http.StatusOK || decodeJSON(data, &res) != nil || res.Data == nil {
		// Not an answer to take apart (an origin failure, a request
		// error): every field gets it as it is, never stored.
		for _, a := range arrivals {
			a.resp = raw(a.out, resp, data)
		}
		return
	}
	if b != nil {
		b.mu.Lock()
		b.ext = res.Extensions
		b.mu.Unlock()
	}
	originCC := httpcache.ParseResponseDirectives(resp.Header)
	for _, a := range arrivals {
		a.resp = h.fieldResponse(a, resp, res.Data[a.fc.f.key], res.Errors, originCC)
	}
}

// fieldResponse is the answer to one root field's fill: its value alone
// under its canonical key, its own errors and the request's, and the
// freshness and tags it is stored with. A field with errors is not stored
// (an error in one root field does not poison the others).
func (h *Handler) fieldResponse(a *arrival, origin *http.Response, value json.RawMessage, errs []map[string]any, originCC httpcache.ResponseDirectives) *http.Response {
	f := a.fc.f
	var own []map[string]any
	for _, e := range errs {
		path, _ := e["path"].([]any)
		if len(path) == 0 || path[0] == f.key {
			delete(e, "locations") // positions in moat's query, not the client's
			own = append(own, e)
		}
	}
	if value == nil {
		value = json.RawMessage("null")
	}
	var b bytes.Buffer
	b.WriteString(`{"data":{`)
	writeKey(&b, f.key)
	b.Write(value)
	b.WriteByte('}')
	if len(own) > 0 {
		b.WriteString(`,"errors":`)
		e, _ := json.Marshal(own)
		b.Write(e)
	}
	b.WriteByte('}')
	cc := "no-store"
	age := a.fc.pol.maxAge
	if originCC.HasSMaxAge {
		age = min(age, originCC.SMaxAge)
	} else if originCC.HasMaxAge {
		age = min(age, originCC.MaxAge)
	}
	uncacheable := originCC.NoStore || originCC.Private || originCC.NoCache
	var tags []string
	if len(own) == 0 && age > 0 && !uncacheable {
		cc = "max-age=" + strconv.Itoa(int(age.Seconds()))
		if !a.fc.pol.private {
			cc = "public, " + cc
		}
		var v any
		if decodeJSON(value, &v) == nil {
			tg := newTagger(h.o.Keys, maxEntityTags)
			if f.sel != nil {
				tg.walk(v, f.sel)
			}
			tags = append([]string{rootTag(rootName(a.fc.op.def, a.fc.op.rootT), f.name)}, tg.list()...)
		}
	}
	hdr := http.Header{
		"Content-Type":  {"application/json; charset=utf-8"},
		"Cache-Control": {cc},
	}
	if v := origin.Header.Values("Vary"); len(v) > 0 {
		hdr["Vary"] = v
	}
	if len(tags) > 0 {
		hdr[gateway.ExtensionTagsHeader] = []string{strings.Join(tags, " ")}
	}
	return stored(a.out, b.Bytes(), "", hdr)
}

// rawHeader marks a subrequest's answer that is the origin's own, not a
// field (see raw).
const rawHeader = "Moat-Graphql-Raw"

// raw is the origin's answer as it is, for a field that cannot be taken
// from it; it is never stored.
func raw(out *http.Request, resp *http.Response, body []byte) *http.Response {
	hdr := http.Header{"Cache-Control": {"no-store"}, rawHeader: {"1"}}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		hdr.Set("Content-Type", ct)
	}
	r := stored(out, body, "", hdr)
	r.StatusCode = resp.StatusCode
	r.Status = resp.Status
	return r
}

// busy is moat's 503 for a field the origin limits kept from the origin.
func busy(out *http.Request) *http.Response {
	r := stored(out, []byte(`{"errors":[{"message":"origin busy","extensions":{"code":"SERVICE_UNAVAILABLE"}}]}`), "no-store",
		http.Header{"Content-Type": {"application/json; charset=utf-8"}, "Retry-After": {"1"}, rawHeader: {"1"}})
	r.StatusCode, r.Status = http.StatusServiceUnavailable, "503 Service Unavailable"
	return r
}

// stored is a 200 response to out with body, and cc as its Cache-Control
// unless hdr has one.
func stored(out *http.Request, body []byte, cc string, hdr http.Header) *http.Response {
	if hdr == nil {
		hdr = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	}
	if cc != "" {
		hdr.Set("Cache-Control", cc)
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	return &http.Response{
		Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: out,
	}
}
