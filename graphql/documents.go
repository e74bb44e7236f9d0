package graphql

import (
	"strings"

	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
)

// document is a query text parsed, checked and validated once: clients send
// the same few documents over and over with other variables, and parsing
// and validating them is most of what a small query costs moat.
//
// WARNING: a cached document is shared by concurrent requests and is
// read-only: a mutation, whose document moat changes before forwarding
// it, parses its own copy (see parseFresh).
type document struct {
	doc        *ast.QueryDocument
	parseError bool   // the origin's to answer
	tokenLimit bool   // over maxTokens: refused
	tooComplex bool   // fragments expanding past the bounds: refused
	reserved   string // a moat__ alias the client used: refused
	invalid    bool   // the schema says no
	mutation   bool   // defines a mutation
}

// documentsWeight bounds the memory of the cached documents (their text
// times documentOverhead, an estimate of the AST's size per byte).
const (
	documentsWeight  = 32 << 20
	documentOverhead = 12
)

func newDocuments() *otter.Cache[string, *document] {
	return otter.Must(&otter.Options[string, *document]{
		MaximumWeight: documentsWeight,
		Weigher: func(q string, _ *document) uint32 {
			return uint32(min(len(q)*documentOverhead+512, documentsWeight))
		},
	})
}

// document returns q parsed and checked, from the cache when it was seen.
func (h *Handler) document(q string) *document {
	if d, ok := h.docs.GetIfPresent(q); ok {
		return d
	}
	d := h.parseFresh(q)
	h.docs.Set(q, d)
	return d
}

// parseFresh parses and checks q into a document of its own.
func (h *Handler) parseFresh(q string) *document {
	d := &document{}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: q}, maxTokens)
	if err != nil {
		d.tokenLimit = strings.Contains(err.Error(), "token limit")
		d.parseError = !d.tokenLimit
		return d
	}
	d.doc = doc
	for _, op := range doc.Operations {
		if budget := maxVisits; !expandsWithin(doc, op.SelectionSet, &budget, 0) {
			d.tooComplex = true
			return d
		}
		d.mutation = d.mutation || op.Operation == ast.Mutation
	}
	if d.reserved = reservedAlias(doc); d.reserved != "" {
		return d
	}
	if h.o.Schema != nil {
		d.invalid = len(validator.Validate(h.o.Schema, doc)) > 0
	}
	return d
}
