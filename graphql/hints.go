package graphql

import (
	"strconv"
	"time"

	"github.com/vektah/gqlparser/v2/ast"
)

// Hint is a cache hint for a type ("Book") or a field ("Query.books"), as
// Apollo's @cacheControl directive gives one in a schema; a configured hint
// replaces the schema's for the same type or field.
type Hint struct {
	// MaxAge, if not nil, is how long a response holding the field (or a
	// field of the type) is fresh.
	MaxAge *time.Duration
	// Private: a response holding it is cached per user (or per tier,
	// Options.PrivateScope), never shared.
	Private bool
	// InheritMaxAge: the field takes its parent's max age instead of the
	// default (for fields returning composite types).
	InheritMaxAge bool
}

// policyOf is the cache policy of one root field: the least max age over
// the fields it selects (Apollo's rules: a field's hint, else for a
// composite field its type's hint, else the default; leaf fields inherit),
// and private if any of them is.
type policyOf struct {
	maxAge  time.Duration
	private bool
}

type hinter struct {
	schema *ast.Schema
	cfg    map[string]Hint
	def    time.Duration
}

func (h *hinter) field(parent string, f *field) (Hint, bool) {
	if x, ok := h.cfg[parent+"."+f.name]; ok {
		return x, true
	}
	if f.def != nil {
		return directiveHint(f.def.Directives)
	}
	return Hint{}, false
}

func (h *hinter) typ(t *ast.Definition) (Hint, bool) {
	if t == nil {
		return Hint{}, false
	}
	if x, ok := h.cfg[t.Name]; ok {
		return x, true
	}
	return directiveHint(t.Directives)
}

func directiveHint(ds ast.DirectiveList) (Hint, bool) {
	d := ds.ForName("cacheControl")
	if d == nil {
		return Hint{}, false
	}
	var x Hint
	if a := d.Arguments.ForName("maxAge"); a != nil && a.Value != nil {
		if n, err := strconv.Atoi(a.Value.Raw); err == nil && n >= 0 {
			age := time.Duration(n) * time.Second
			x.MaxAge = &age
		}
	}
	if a := d.Arguments.ForName("scope"); a != nil && a.Value != nil {
		x.Private = a.Value.Raw == "PRIVATE"
	}
	if a := d.Arguments.ForName("inheritMaxAge"); a != nil && a.Value != nil {
		x.InheritMaxAge = a.Value.Raw == "true"
	}
	return x, true
}

// root returns the policy of the root field f of an operation on the root
// type named parent.
func (h *hinter) root(parent string, f *field) policyOf {
	p := policyOf{maxAge: -1}
	h.walk(&p, parent, f, 0, true)
	if p.maxAge < 0 {
		p.maxAge = h.def
	}
	return p
}

func (h *hinter) walk(p *policyOf, parent string, f *field, inherited time.Duration, root bool) {
	fh, fok := h.field(parent, f)
	th, tok := h.typ(f.typ)
	if fh.Private || (tok && th.Private) {
		p.private = true
	}
	composite := f.sel != nil || root
	age, set := inherited, false
	switch {
	case fok && fh.MaxAge != nil:
		age, set = *fh.MaxAge, true
	case fok && fh.InheritMaxAge:
	case composite && tok && th.MaxAge != nil:
		age, set = *th.MaxAge, true
	case composite:
		age, set = h.def, true
	}
	if set && (p.maxAge < 0 || age < p.maxAge) {
		p.maxAge = age
	}
	if f.sel != nil {
		h.sel(p, f.sel, typeName(f.typ), age)
	}
}

func (h *hinter) sel(p *policyOf, s *selSet, parent string, inherited time.Duration) {
	for _, c := range s.fields {
		if c.name == "__typename" {
			continue
		}
		h.walk(p, parent, c, inherited, false)
	}
	for _, fr := range s.frags {
		h.sel(p, fr.sel, fr.on, inherited)
	}
}
