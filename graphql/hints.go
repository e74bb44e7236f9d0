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
	x, ok := h.field1(parent, f.name, f.def)
	if h.schema == nil {
		return x, ok
	}
	pt := h.schema.Types[parent]
	if pt == nil || !pt.IsAbstractType() {
		return x, ok
	}
	// Selected on an interface: the object types' own hints on the field
	// count too (the most restrictive wins).
	for _, ot := range h.schema.GetPossibleTypes(pt) {
		y, has := h.field1(ot.Name, f.name, ot.Fields.ForName(f.name))
		if !has {
			continue
		}
		x.Private = x.Private || y.Private
		if y.MaxAge != nil && (x.MaxAge == nil || *y.MaxAge < *x.MaxAge) {
			x.MaxAge = y.MaxAge
		}
		ok = true
	}
	return x, ok
}

func (h *hinter) field1(parent, name string, def *ast.FieldDefinition) (Hint, bool) {
	if x, ok := h.cfg[parent+"."+name]; ok {
		return x, true
	}
	if def != nil {
		return directiveHint(def.Directives)
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
	tPrivate, tAge, tok := h.typeHint(f.typ)
	if fh.Private || tPrivate {
		p.private = true
	}
	composite := f.sel != nil || root
	age, set := inherited, false
	switch {
	case fok && fh.MaxAge != nil:
		age, set = *fh.MaxAge, true
	case fok && fh.InheritMaxAge:
	case composite && tok:
		age, set = tAge, true
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
		// The fragment's type is what the object is when it applies: its
		// hints count as the field's would.
		private, age, ok := h.typeHint(fr.sel.typ)
		p.private = p.private || private
		if ok && (p.maxAge < 0 || age < p.maxAge) {
			p.maxAge = age
		}
		h.sel(p, fr.sel, fr.on, inherited)
	}
}

// typeHint combines the hints of t and, for an interface or union, of every
// type an object of it may be at run time (hints apply by the object's
// type, which only the response tells): private if any is, the least max
// age (the default standing for a type without one). ok is false when
// nothing covers t.
func (h *hinter) typeHint(t *ast.Definition) (private bool, age time.Duration, ok bool) {
	if t == nil {
		return false, 0, false
	}
	own, hasOwn := h.typ(t)
	private = own.Private
	if hasOwn && own.MaxAge != nil {
		age, ok = *own.MaxAge, true
	}
	if !t.IsAbstractType() || h.schema == nil {
		return private, age, ok
	}
	for _, pt := range h.schema.GetPossibleTypes(t) {
		x, has := h.typ(pt)
		private = private || x.Private
		a := h.def
		switch {
		case has && x.MaxAge != nil:
			a = *x.MaxAge
		case hasOwn && own.MaxAge != nil:
			continue // the abstract type's own hint stands for it
		}
		if !ok || a < age {
			age, ok = a, true
		}
	}
	return private, age, ok
}
