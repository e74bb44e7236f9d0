package graphql

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/httpcache"
)

// answer is one root field's subrequest, answered.
type answer struct {
	f      *field
	pol    policyOf
	rec    *recorder
	result gateway.Result
}

// query answers a query: one subrequest per root field, the misses
// fetched in one origin request, the client's response shaped from the
// fields' canonical values.
func (h *Handler) query(w http.ResponseWriter, r *http.Request, req *request, op *operation) {
	parent := rootName(op.def, op.rootT)
	b := &batch{pending: len(op.root.fields)}
	answers := make([]*answer, len(op.root.fields))
	var wg sync.WaitGroup
	for i, f := range op.root.fields {
		pol := h.hints.root(parent, f)
		q, vars := printQuery(op.kind, op.dirs, []*field{f})
		fc := &fieldCall{batch: b, f: f, op: op, pol: pol}
		sr := h.subrequest(r, q, vars, fc)
		scope := h.pol.Scope
		if pol.private {
			scope = h.o.PrivateScope
		}
		a := &answer{f: f, pol: pol, rec: newRecorder(h.o.MaxResponse)}
		answers[i] = a
		serve := func() {
			defer b.settle(fc)
			a.result = h.sub.Serve(a.rec, sr, scope, func() { b.settle(fc) })
		}
		if len(op.root.fields) == 1 {
			serve() // nothing to wait for together
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve()
		}()
	}
	wg.Wait()
	h.respond(w, r, op, answers, b)
}

// subrequest is the GET that stands for one root field: its canonical
// query and variables in the URL (the key), the client's header (its
// credentials decide the scope; the origin receives them), without what
// belongs to the client's own exchange.
func (h *Handler) subrequest(r *http.Request, query string, vars []byte, fc *fieldCall) *http.Request {
	v := url.Values{"query": {query}}
	if string(vars) != "{}" {
		v.Set("variables", string(vars))
	}
	u := url.URL{Path: r.URL.Path, RawQuery: v.Encode()}
	ctx := context.WithValue(r.Context(), fieldCallKey{}, fc)
	sr, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	sr.Host, sr.TLS, sr.RemoteAddr = r.Host, r.TLS, r.RemoteAddr
	sr.Header = r.Header.Clone()
	for _, k := range [...]string{"Content-Type", "Content-Length", "Accept-Encoding", "If-None-Match",
		"If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range", "Expect"} {
		sr.Header.Del(k)
	}
	return sr
}

// respond writes the client's response from the fields' answers.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, op *operation, answers []*answer, b *batch) {
	root := make(map[string]any, len(answers))
	var errs []map[string]any
	seen := map[string]bool{}
	cached, stale, private, noStore := 0, false, false, false
	minAge := time.Duration(-1)
	for _, a := range answers {
		if a.rec.status != http.StatusOK || a.rec.hdr.Get(rawHeader) != "" || a.rec.overflow {
			// The origin's own answer (an error, a request it refused):
			// the client gets it as it is.
			h.passRaw(w, r, op, a)
			return
		}
		var body struct {
			Data   map[string]any   `json:"data"`
			Errors []map[string]any `json:"errors"`
		}
		if err := decodeJSON([]byte(a.rec.body.String()), &body); err != nil || body.Data == nil {
			h.passRaw(w, r, op, a)
			return
		}
		root[a.f.key] = body.Data[a.f.key]
		for _, e := range body.Errors {
			k, _ := json.Marshal(e)
			if !seen[string(k)] {
				seen[string(k)] = true
				errs = append(errs, e)
			}
		}
		switch a.result {
		case gateway.ResultHit:
			cached++
		case gateway.ResultStale:
			cached++
			stale = true
		}
		private = private || a.pol.private
		d := httpcache.ParseResponseDirectives(a.rec.hdr)
		if d.NoStore || !d.HasMaxAge {
			noStore = true
			continue
		}
		age, _ := strconv.Atoi(a.rec.hdr.Get("Age"))
		left := max(d.MaxAge-time.Duration(age)*time.Second, 0)
		if minAge < 0 || left < minAge {
			minAge = left
		}
	}
	sh := &shaper{op: op}
	sh.b.WriteString(`{"data":`)
	if err := sh.data(root); err != nil {
		writeErrors(w, http.StatusBadRequest, "GRAPHQL_VALIDATION_FAILED", err.Error())
		h.sub.SetResult(r.Context(), gateway.ResultBypass)
		return
	}
	if len(errs) > 0 {
		for _, e := range errs {
			if path, ok := e["path"].([]any); ok {
				e["path"] = sh.clientPath(root, path)
			}
		}
		sh.b.WriteString(`,"errors":`)
		eb, _ := json.Marshal(errs)
		sh.b.Write(eb)
	}
	b.mu.Lock()
	ext := b.ext
	b.mu.Unlock()
	if len(ext) > 0 && !bytes.Equal(ext, []byte("null")) {
		sh.b.WriteString(`,"extensions":`)
		sh.b.Write(ext)
	}
	sh.b.WriteByte('}')

	res, st := gateway.ResultMiss, "fwd=miss"
	switch {
	case cached == len(answers) && stale:
		res, st = gateway.ResultStale, "fwd=stale"
	case cached == len(answers):
		res, st = gateway.ResultHit, "hit"
	case cached > 0:
		res, st = gateway.ResultPartial, "fwd=partial"
	}
	hdr := w.Header()
	hdr.Set("Content-Type", contentType(r))
	hdr.Set("Cache-Status", h.sub.Name()+"; "+st+"; detail=graphql-"+strconv.Itoa(cached)+"-of-"+strconv.Itoa(len(answers)))
	hdr.Set("X-Cache", strings.ToUpper(res.String()))
	switch {
	case noStore || minAge <= 0:
		hdr.Set("Cache-Control", "no-store")
	case private:
		hdr.Set("Cache-Control", "private, max-age="+strconv.Itoa(int(minAge.Seconds())))
	default:
		hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(minAge.Seconds())))
	}
	if private {
		hdr.Add("Vary", "Authorization")
	}
	hdr.Set("Content-Length", strconv.Itoa(sh.b.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(sh.b.Bytes())
	}
	h.sub.SetResult(r.Context(), res)
	h.observe(op.name, string(op.kind), res, len(answers), cached)
}

// passRaw answers with a field's answer as the origin gave it.
func (h *Handler) passRaw(w http.ResponseWriter, r *http.Request, op *operation, a *answer) {
	hdr := w.Header()
	for k, v := range a.rec.hdr {
		if k == rawHeader {
			continue
		}
		hdr[k] = v
	}
	hdr.Set("Content-Length", strconv.Itoa(a.rec.body.Len()))
	status := a.rec.status
	if a.rec.overflow {
		status = http.StatusBadGateway
		hdr.Set("Content-Length", "0")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead && !a.rec.overflow {
		_, _ = w.Write([]byte(a.rec.body.String()))
	}
	h.sub.SetResult(r.Context(), gateway.ResultMiss)
	h.observe(op.name, string(op.kind), gateway.ResultMiss, len(op.root.fields), 0)
}

// contentType is the media type of a GraphQL response the client accepts:
// application/graphql-response+json when it asks for it (GraphQL over
// HTTP), else application/json.
func contentType(r *http.Request) string {
	if strings.Contains(r.Header.Get("Accept"), "application/graphql-response+json") {
		return "application/graphql-response+json; charset=utf-8"
	}
	return "application/json; charset=utf-8"
}
