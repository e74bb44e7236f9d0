package graphql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/moatproxy/moat/gateway"
)

// mutate forwards a mutation to the origin with __typename and the key
// fields added to its selections, purges the entities its response holds
// (and the tags of Options.Invalidate for its fields that succeeded), and
// answers the client with the response as it asked for it.
func (h *Handler) mutate(w http.ResponseWriter, r *http.Request, req *request, doc *ast.QueryDocument, op *ast.OperationDefinition) {
	if r.Method != http.MethodPost {
		h.forward(w, r, req, "graphql-mutation", op.Name) // the origin refuses it (GraphQL over HTTP)
		return
	}
	if len(h.o.Keys) == 0 && len(h.o.Invalidate) == 0 {
		// Nothing says what it changes: every cached field of the route
		// goes (configure keys to purge only what changed).
		h.forwardPurging(w, r, req, "graphql-mutation", op.Name)
		return
	}
	injectedOnly := aliasesKeyNames(doc, h.o.Keys)
	if len(h.o.Keys) > 0 {
		inj := &injector{schema: h.o.Schema, keys: h.o.Keys, done: map[string]bool{}, doc: doc}
		inj.selections(&op.SelectionSet, h.rootType(op), true)
	}
	var q bytes.Buffer
	formatter.NewFormatter(&q).FormatQueryDocument(doc)
	ext := map[string]any{}
	for k, v := range req.Extensions {
		if k != "persistedQuery" {
			ext[k] = v
		}
	}
	payload := map[string]any{"query": q.String()}
	if req.OperationName != "" {
		payload["operationName"] = req.OperationName
	}
	if len(req.Variables) > 0 {
		payload["variables"] = req.Variables
	}
	if len(ext) > 0 {
		payload["extensions"] = ext
	}
	body, err := json.Marshal(payload)
	if err != nil {
		writeErrors(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.Header.Set("Content-Type", "application/json")
	out.Header.Del("Content-Length")
	out.Header.Del("Accept-Encoding") // the transport asks for gzip and decodes it: moat reads the body
	rec := newRecorder(h.o.MaxResponse)
	h.sub.Forward(rec, out, "graphql-mutation")

	respBody := []byte(rec.body.String())
	if !rec.overflow && rec.status/100 == 2 {
		tree, err := decodeOrdered(respBody)
		if err != nil || rec.hdr.Get("Content-Encoding") != "" {
			// A success moat cannot read: what it changed is unknown.
			h.purgeRoute(r, op.Name)
		} else {
			tg := newTagger(h.o.Keys, 0) // a purge names every entity
			tg.injectedOnly = injectedOnly
			tree = strip(tree, tg)
			tags := tg.list()
			for typ := range tg.seen {
				tags = append(tags, typeTag(typ))
			}
			tags = append(tags, h.ruleTags(doc, op, tree, req.Variables)...)
			if len(tags) > 0 {
				if _, err := h.sub.Purge(r.Context(), gateway.Purge{Tags: tags}); err != nil {
					h.o.Logger.Error("graphql: mutation purge failed", "operation", op.Name, "err", err)
				}
			}
			var b bytes.Buffer
			writeOrdered(&b, tree)
			respBody = b.Bytes()
		}
	}
	hdr := w.Header()
	for k, v := range rec.hdr {
		hdr[k] = v
	}
	hdr.Set("Content-Length", strconv.Itoa(len(respBody)))
	status := rec.status
	if rec.overflow {
		// Larger than moat reads: its entities are unknown. The client
		// gets an error rather than a response moat could not clean.
		status, respBody = http.StatusBadGateway, nil
		hdr.Set("Content-Length", "0")
		if rec.status/100 == 2 {
			h.purgeRoute(r, op.Name) // it did change something
		}
		h.o.Logger.Error("graphql: mutation response too large to read", "operation", op.Name, "limit", h.o.MaxResponse)
	}
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
	h.sub.SetResult(r.Context(), gateway.ResultBypass)
	h.observe(op.Name, string(ast.Mutation), gateway.ResultBypass, len(op.SelectionSet), 0)
}

func (h *Handler) rootType(op *ast.OperationDefinition) *ast.Definition {
	if h.o.Schema == nil {
		return nil
	}
	return h.o.Schema.Mutation
}

// ruleTags expands Options.Invalidate for the mutation's root fields that
// answered with data.
func (h *Handler) ruleTags(doc *ast.QueryDocument, op *ast.OperationDefinition, tree any, vars map[string]any) []string {
	if len(h.o.Invalidate) == 0 {
		return nil
	}
	root, _ := tree.(*omap)
	data, _ := root.get("data").(*omap)
	if data == nil {
		return nil
	}
	var tags []string
	budget := maxVisits
	rootFields(op.SelectionSet, doc, &budget, 0, func(f *ast.Field) {
		if data.get(f.Alias) == nil {
			return
		}
		for _, tmpl := range h.o.Invalidate["Mutation."+f.Name] {
			if t, ok := expandArgs(tmpl, f, vars); ok {
				tags = append(tags, t)
			}
		}
	})
	return tags
}

// rootFields calls fn with every field of ss, through its fragments (a
// mutation's root fields may sit in a fragment on the mutation type).
func rootFields(ss ast.SelectionSet, doc *ast.QueryDocument, budget *int, depth int, fn func(*ast.Field)) {
	if depth > maxDepth {
		return
	}
	for _, sel := range ss {
		if *budget--; *budget < 0 {
			return // fragments expanding exponentially: enough
		}
		switch s := sel.(type) {
		case *ast.Field:
			fn(s)
		case *ast.InlineFragment:
			rootFields(s.SelectionSet, doc, budget, depth+1, fn)
		case *ast.FragmentSpread:
			if doc != nil {
				if def := doc.Fragments.ForName(s.Name); def != nil {
					rootFields(def.SelectionSet, doc, budget, depth+1, fn)
				}
			}
		}
	}
}

// aliasesKeyNames reports whether the client's document gives a field an
// alias that is __typename or a key field's name: its response would name
// other entities than it changed.
func aliasesKeyNames(doc *ast.QueryDocument, keys map[string][]string) bool {
	names := map[string]bool{"__typename": true}
	for _, ks := range keys {
		for _, k := range ks {
			names[k] = true
		}
	}
	found := false
	walkFields(doc, func(f *ast.Field) {
		if f.Alias != f.Name && names[f.Alias] {
			found = true
		}
	})
	return found
}

// walkFields calls fn with every field of doc's operations and fragments.
func walkFields(doc *ast.QueryDocument, fn func(*ast.Field)) {
	var walk func(ss ast.SelectionSet, depth int)
	walk = func(ss ast.SelectionSet, depth int) {
		if depth > maxDepth {
			return
		}
		for _, sel := range ss {
			switch s := sel.(type) {
			case *ast.Field:
				fn(s)
				walk(s.SelectionSet, depth+1)
			case *ast.InlineFragment:
				walk(s.SelectionSet, depth+1)
			}
		}
	}
	for _, op := range doc.Operations {
		walk(op.SelectionSet, 0)
	}
	for _, f := range doc.Fragments {
		walk(f.SelectionSet, 0)
	}
}

// expandArgs replaces {name} in tmpl by the value of f's argument name.
func expandArgs(tmpl string, f *ast.Field, vars map[string]any) (string, bool) {
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String(), true
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			return "", false
		}
		a := f.Arguments.ForName(tmpl[i+1 : i+j])
		if a == nil {
			return "", false
		}
		v, err := a.Value.Value(vars)
		if err != nil || v == nil {
			return "", false
		}
		b.WriteString(tmpl[:i])
		b.WriteString(tagValue.Replace(fmt.Sprint(v)))
		tmpl = tmpl[i+j+1:]
	}
}

// injector adds to a mutation's selections what finds its entities:
// __typename (aliased), and the configured key fields of the types the
// schema says are selected.
type injector struct {
	schema *ast.Schema
	keys   map[string][]string
	doc    *ast.QueryDocument
	done   map[string]bool // fragment definitions injected
}

func (in *injector) selections(ss *ast.SelectionSet, typ *ast.Definition, root bool) {
	for _, sel := range *ss {
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				continue
			}
			var ft *ast.Definition
			if s.Definition != nil && in.schema != nil {
				ft = in.schema.Types[s.Definition.Type.Name()]
			}
			in.selections(&s.SelectionSet, ft, false)
		case *ast.InlineFragment:
			t := typ
			if s.TypeCondition != "" && in.schema != nil {
				t = in.schema.Types[s.TypeCondition]
			}
			in.selections(&s.SelectionSet, t, true) // the parent has __typename
		case *ast.FragmentSpread:
			if in.done[s.Name] {
				continue
			}
			in.done[s.Name] = true
			if def := in.doc.Fragments.ForName(s.Name); def != nil {
				var t *ast.Definition
				if in.schema != nil {
					t = in.schema.Types[def.TypeCondition]
				}
				in.selections(&def.SelectionSet, t, true)
			}
		}
	}
	if root {
		return
	}
	*ss = append(*ss, &ast.Field{Alias: injectedTypename, Name: "__typename"})
	if typ == nil || in.schema == nil {
		return
	}
	if typ.Kind == ast.Object {
		for _, k := range in.keys[typ.Name] {
			*ss = append(*ss, &ast.Field{Alias: injectedKeyPrefix + k, Name: k})
		}
		return
	}
	for _, pt := range in.schema.GetPossibleTypes(typ) {
		ks := in.keys[pt.Name]
		if len(ks) == 0 {
			continue
		}
		fr := &ast.InlineFragment{TypeCondition: pt.Name}
		for _, k := range ks {
			fr.SelectionSet = append(fr.SelectionSet, &ast.Field{Alias: injectedKeyPrefix + k, Name: k})
		}
		*ss = append(*ss, fr)
	}
}

// strip removes moat's injected fields from a decoded response, telling
// tg of every entity on the way.
func strip(v any, tg *tagger) any {
	switch v := v.(type) {
	case *omap:
		flat := make(map[string]any, len(v.k))
		for i, k := range v.k {
			flat[k] = v.v[i]
		}
		tg.entity(flat)
		out := &omap{}
		for i, k := range v.k {
			if strings.HasPrefix(k, injectedPrefix) {
				continue
			}
			out.k = append(out.k, k)
			out.v = append(out.v, strip(v.v[i], tg))
		}
		return out
	case []any:
		for i := range v {
			v[i] = strip(v[i], tg)
		}
	}
	return v
}

// omap is a JSON object that keeps its keys' order.
type omap struct {
	k []string
	v []any
}

func (m *omap) get(k string) any {
	if m == nil {
		return nil
	}
	for i, x := range m.k {
		if x == k {
			return m.v[i]
		}
	}
	return nil
}

// decodeOrdered decodes JSON with objects as *omap and numbers as
// json.Number.
func decodeOrdered(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec, 0)
	if err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("graphql: trailing data")
	}
	return v, nil
}

func decodeValue(dec *json.Decoder, depth int) (any, error) {
	if depth > 512 {
		return nil, fmt.Errorf("graphql: JSON nested too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			m := &omap{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, _ := kt.(string)
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				m.k = append(m.k, k)
				m.v = append(m.v, v)
			}
			_, err := dec.Token()
			return m, err
		case '[':
			l := []any{}
			for dec.More() {
				v, err := decodeValue(dec, depth+1)
				if err != nil {
					return nil, err
				}
				l = append(l, v)
			}
			_, err := dec.Token()
			return l, err
		}
		return nil, fmt.Errorf("graphql: unexpected %v", t)
	}
	return tok, nil
}

func writeOrdered(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case *omap:
		b.WriteByte('{')
		for i, k := range v.k {
			if i > 0 {
				b.WriteByte(',')
			}
			writeKey(b, k)
			writeOrdered(b, v.v[i])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeOrdered(b, e)
		}
		b.WriteByte(']')
	default:
		_ = writeJSON(b, v)
	}
}
