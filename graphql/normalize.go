package graphql

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// Why an operation is not cached (it is forwarded as it came): the origin
// answers what moat does not take apart.
var (
	errUnsupported = errors.New("graphql: not cacheable")
	// errTooComplex: the operation would cost more than moat's bounds to
	// take apart (fragments expanding exponentially): refused, as the
	// origin would pay the same.
	errTooComplex = errors.New("graphql: operation too complex")
)

// Bounds on what one operation may make normalize do: an attacker's query
// costs moat no more than this before it is forwarded uncached.
const (
	maxDepth = 48
	// maxVisits bounds the selections normalize visits, skipped or not:
	// fragments spread twice in each of many levels expand exponentially.
	maxVisits = 4000
	// maxRootFields bounds the subrequests (and goroutines) of one client
	// request.
	maxRootFields = 64
)

// field is a canonical field: every field of the client's operation with
// one name, the same arguments and the same directives, merged (GraphQL's
// field collection, CollectFields, merges them too). Its key is its
// response key in the queries moat sends the origin.
type field struct {
	name string
	key  string
	args []arg // sorted by name
	dirs []dir // in the client's order; @skip and @include evaluated away
	sel  *selSet
	typ  *ast.Definition // its named type, when the schema is known
	def  *ast.FieldDefinition
}

// selSet is a canonical selection set: fields sorted by key, then the
// fragments whose type condition could not be decided without the
// response, sorted by type, each with a marker field ("moat__on_T:
// __typename") that says in the response whether it applied.
type selSet struct {
	fields []*field
	byKey  map[string]*field
	frags  []*frag
	typ    *ast.Definition
}

type frag struct {
	on  string
	sel *selSet
}

type arg struct {
	name string
	v    *val
}

type dir struct {
	name string
	args []arg
}

// markerPrefix starts the response key of a fragment's marker field.
const markerPrefix = "moat__on_"

// fragMode is what normalize did with a fragment in one place: flattened
// into its parent (it always applies), dropped (it never does) or kept
// under its type condition with a marker.
type fragMode uint8

const (
	fragFlatten fragMode = iota
	fragDrop
	fragKeep
)

// site is a fragment (a *ast.InlineFragment or *ast.FragmentSpread) in
// the context of its parent type: one fragment definition may be spread
// where it always applies and where it may not.
type site struct {
	sel    ast.Selection
	parent string
}

// normalizer turns one operation into canonical fields.
type normalizer struct {
	doc      *ast.QueryDocument
	schema   *ast.Schema
	keys     map[string][]string // entity key fields by type
	vars     map[string]any      // the request's variable values
	varDefs  map[string]*ast.VariableDefinition
	cfield   map[*ast.Field]*field // the canonical field of each client field
	modes    map[site]fragMode
	visits   int
	inMutate bool
}

// operation is a normalized operation.
type operation struct {
	kind   ast.Operation
	name   string
	def    *ast.OperationDefinition
	dirs   []dir
	root   *selSet
	rootT  *ast.Definition
	cfield map[*ast.Field]*field
	modes  map[site]fragMode
	doc    *ast.QueryDocument
	schema *ast.Schema
	vars   map[string]any
}

// selectOperation returns the operation of doc that name names (the only
// one when name is empty).
func selectOperation(doc *ast.QueryDocument, name string) (*ast.OperationDefinition, error) {
	if name == "" {
		if len(doc.Operations) != 1 {
			return nil, fmt.Errorf("%w: operationName is required with %d operations", errUnsupported, len(doc.Operations))
		}
		return doc.Operations[0], nil
	}
	op := doc.Operations.ForName(name)
	if op == nil {
		return nil, fmt.Errorf("%w: no operation %q", errUnsupported, name)
	}
	return op, nil
}

// normalize returns the canonical form of op. vars are the request's
// variables (absent ones take their defaults as the operation declares
// them). Only what it cannot do soundly fails (errUnsupported: @defer,
// @stream, unknown fragment directives, undecidable @skip/@include;
// errTooComplex): the caller then forwards the operation as it came.
func normalize(doc *ast.QueryDocument, op *ast.OperationDefinition, schema *ast.Schema, keys map[string][]string, vars map[string]any) (*operation, error) {
	n := &normalizer{doc: doc, schema: schema, keys: keys, vars: vars,
		varDefs: map[string]*ast.VariableDefinition{}, cfield: map[*ast.Field]*field{}, modes: map[site]fragMode{}}
	for _, vd := range op.VariableDefinitions {
		n.varDefs[vd.Variable] = vd
	}
	var rootT *ast.Definition
	if schema != nil {
		switch op.Operation {
		case ast.Query:
			rootT = schema.Query
		case ast.Mutation:
			rootT = schema.Mutation
		case ast.Subscription:
			rootT = schema.Subscription
		}
		if rootT == nil {
			return nil, fmt.Errorf("%w: the schema has no %s type", errUnsupported, op.Operation)
		}
	}
	dirs, _, err := n.directives(op.Directives)
	if err != nil {
		return nil, err
	}
	root := newSelSet(rootT)
	if err := n.collect(root, op.SelectionSet, rootT, rootName(op, rootT), 0); err != nil {
		return nil, err
	}
	if len(root.frags) > 0 {
		// A fragment on the root type that could not be flattened (no
		// schema, an unusual root type name): its fields cannot be split
		// into root fields.
		return nil, fmt.Errorf("%w: a root fragment on an unknown type", errUnsupported)
	}
	if len(root.fields) > maxRootFields {
		return nil, fmt.Errorf("%w: %d root fields", errUnsupported, len(root.fields))
	}
	n.finish(root, true, false)
	return &operation{kind: op.Operation, name: op.Name, def: op, dirs: dirs, root: root, rootT: rootT,
		cfield: n.cfield, modes: n.modes, doc: doc, schema: schema, vars: vars}, nil
}

// rootName is the name of op's root type: the schema's, or by convention.
func rootName(op *ast.OperationDefinition, t *ast.Definition) string {
	if t != nil {
		return t.Name
	}
	switch op.Operation {
	case ast.Mutation:
		return "Mutation"
	case ast.Subscription:
		return "Subscription"
	}
	return "Query"
}

func newSelSet(t *ast.Definition) *selSet {
	return &selSet{byKey: map[string]*field{}, typ: t}
}

// collect merges the client's selections ss into into. parent is the
// type they select on (nil without a schema); parentName its name when
// known even without a schema (the root).
func (n *normalizer) collect(into *selSet, ss ast.SelectionSet, parent *ast.Definition, parentName string, depth int) error {
	return n.collectIn(into, ss, parent, parentName, "", depth)
}

// collectIn is collect inside a kept fragment on type on ("" outside
// one): a field's key there names the type too, since fragments on two
// types may select one name with two types (§5.3.2 allows it when the
// parents differ; one response key for both would not be).
func (n *normalizer) collectIn(into *selSet, ss ast.SelectionSet, parent *ast.Definition, parentName, on string, depth int) error {
	if depth > maxDepth {
		return errTooComplex
	}
	for _, sel := range ss {
		if n.visits++; n.visits > maxVisits {
			return errTooComplex
		}
		switch s := sel.(type) {
		case *ast.Field:
			if err := n.collectField(into, s, parent, on, depth); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := n.collectFragment(into, s, s.TypeCondition, s.Directives, s.SelectionSet, parent, parentName, on, depth); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			def := n.doc.Fragments.ForName(s.Name)
			if def == nil {
				return fmt.Errorf("%w: unknown fragment %q", errUnsupported, s.Name)
			}
			if len(def.Directives) > 0 || len(def.VariableDefinition) > 0 {
				return fmt.Errorf("%w: directives or variables on fragment %q", errUnsupported, s.Name)
			}
			if err := n.collectFragment(into, s, def.TypeCondition, s.Directives, def.SelectionSet, parent, parentName, on, depth); err != nil {
				return err
			}
		}
	}
	return nil
}

func (n *normalizer) collectField(into *selSet, s *ast.Field, parent *ast.Definition, on string, depth int) error {
	dirs, include, err := n.directives(s.Directives)
	if err != nil || !include {
		return err
	}
	args, err := n.args(s.Arguments)
	if err != nil {
		return err
	}
	key := fieldKey(s.Name, args, dirs, on)
	if s.Name == "__typename" && strings.HasPrefix(s.Alias, markerPrefix) {
		// A marker, in a query moat printed (a warm-up replaying a field's
		// subrequest): kept as it is, so that printing is idempotent.
		key = s.Alias
	}
	f := into.byKey[key]
	isNew := f == nil
	if isNew {
		f = &field{name: s.Name, key: key, args: args, dirs: dirs}
		if parent != nil && !strings.HasPrefix(s.Name, "__") {
			if f.def = parent.Fields.ForName(s.Name); f.def == nil {
				return fmt.Errorf("%w: no field %s.%s", errUnsupported, parent.Name, s.Name)
			}
			f.typ = n.schema.Types[f.def.Type.Name()]
		}
		into.byKey[key] = f
		into.fields = append(into.fields, f)
	}
	n.cfield[s] = f
	if hasSel := len(s.SelectionSet) > 0; !isNew && hasSel != (f.sel != nil) {
		return fmt.Errorf("%w: %s selected with and without a selection set", errUnsupported, s.Name)
	}
	if len(s.SelectionSet) == 0 {
		return nil
	}
	if f.sel == nil {
		f.sel = newSelSet(f.typ)
	}
	return n.collect(f.sel, s.SelectionSet, f.typ, typeName(f.typ), depth+1)
}

func typeName(t *ast.Definition) string {
	if t == nil {
		return ""
	}
	return t.Name
}

func (n *normalizer) collectFragment(into *selSet, at ast.Selection, on string, ds ast.DirectiveList, ss ast.SelectionSet, parent *ast.Definition, parentName, inFrag string, depth int) error {
	dirs, include, err := n.directives(ds)
	if err != nil || !include {
		return err
	}
	if len(dirs) > 0 {
		return fmt.Errorf("%w: directive @%s on a fragment", errUnsupported, dirs[0].name)
	}
	mode := n.fragMode(parent, parentName, on)
	n.modes[site{at, parentName}] = mode
	switch mode {
	case fragDrop:
		return nil
	case fragFlatten:
		return n.collectIn(into, ss, parent, parentName, inFrag, depth+1)
	}
	var fr *frag
	for _, x := range into.frags {
		if x.on == on {
			fr = x
		}
	}
	if fr == nil {
		var t *ast.Definition
		if n.schema != nil {
			t = n.schema.Types[on]
		}
		fr = &frag{on: on, sel: newSelSet(t)}
		into.frags = append(into.frags, fr)
	}
	return n.collectIn(fr.sel, ss, fr.sel.typ, on, on, depth+1)
}

// fragMode decides a fragment on type on, selected on parent: it applies
// always when it has no type condition or names the parent's own type (or
// an abstract type the object parent belongs to), never when the parent is
// an object type it does not cover, and otherwise only the response can
// tell (kept, with a marker).
func (n *normalizer) fragMode(parent *ast.Definition, parentName, on string) fragMode {
	if on == "" || on == parentName {
		return fragFlatten
	}
	if n.schema == nil || parent == nil {
		return fragKeep
	}
	t := n.schema.Types[on]
	if t == nil {
		return fragKeep // the origin will say what it thinks of it
	}
	if parent.Kind == ast.Object {
		if t.IsAbstractType() && slices.Contains(n.schema.GetPossibleTypes(t), parent) {
			return fragFlatten
		}
		return fragDrop
	}
	return fragKeep
}

// directives evaluates @skip and @include (GraphQL spec §3.13.2, §3.13.3)
// and returns the others; @defer and @stream make the operation
// uncacheable.
func (n *normalizer) directives(ds ast.DirectiveList) (out []dir, include bool, err error) {
	include = true
	for _, d := range ds {
		switch d.Name {
		case "skip", "include":
			a := d.Arguments.ForName("if")
			if a == nil {
				return nil, false, fmt.Errorf("%w: @%s without if", errUnsupported, d.Name)
			}
			v, err := n.value(a.Value)
			if err != nil || v == nil || v.kind != ast.BooleanValue {
				return nil, false, fmt.Errorf("%w: @%s(if:) is not a boolean", errUnsupported, d.Name)
			}
			if (v.raw == "true") == (d.Name == "skip") {
				include = false
			}
		case "defer", "stream":
			return nil, false, fmt.Errorf("%w: @%s", errUnsupported, d.Name)
		default:
			args, err := n.args(d.Arguments)
			if err != nil {
				return nil, false, err
			}
			out = append(out, dir{name: d.Name, args: args})
		}
	}
	return out, include, nil
}

func (n *normalizer) args(list ast.ArgumentList) ([]arg, error) {
	out := make([]arg, 0, len(list))
	for _, a := range list {
		v, err := n.value(a.Value)
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue // an absent variable: the argument is absent (§6.4.1)
		}
		out = append(out, arg{name: a.Name, v: v})
	}
	slices.SortFunc(out, func(a, b arg) int { return cmp.Compare(a.name, b.name) })
	return out, nil
}

// fieldKey is the canonical response key of a field: its name, or with
// arguments or directives its name and a hash of their canonical text, so
// that two fields share a key exactly when they are the same field.
func fieldKey(name string, args []arg, dirs []dir, on string) string {
	if len(args) == 0 && len(dirs) == 0 && (on == "" || name == "__typename") {
		return name
	}
	var b bytes.Buffer
	if on != "" {
		b.WriteString("on " + on + " ")
	}
	writeArgs(&b, args, nil)
	for _, d := range dirs {
		b.WriteString("@" + d.name)
		writeArgs(&b, d.args, nil)
	}
	return fmt.Sprintf("%s_%016x", name, xxhash.Sum64(b.Bytes()))
}

// finish sorts s (and what it holds), adds the fragments' markers and,
// for entity tags, __typename and the key fields of the types the schema
// and the configured keys identify.
func (n *normalizer) finish(s *selSet, root, inFrag bool) {
	if !root {
		n.inject(s, inFrag)
	}
	for _, fr := range s.frags {
		marker := markerPrefix + fr.on
		if fr.sel.byKey[marker] == nil {
			f := &field{name: "__typename", key: marker}
			fr.sel.byKey[marker] = f
			fr.sel.fields = append(fr.sel.fields, f)
		}
		n.finish(fr.sel, false, true)
	}
	slices.SortFunc(s.fields, func(a, b *field) int { return cmp.Compare(a.key, b.key) })
	slices.SortFunc(s.frags, func(a, b *frag) int { return cmp.Compare(a.on, b.on) })
	for _, f := range s.fields {
		if f.sel != nil {
			n.finish(f.sel, false, false)
		}
	}
}

// inject adds to a selection set what entity tags need: __typename
// (valid on every composite type; a fragment's parent has it), and, where
// the schema says the type is one of the configured entity types, its key
// fields.
func (n *normalizer) inject(s *selSet, inFrag bool) {
	if !inFrag {
		n.leaf(s, "__typename", nil, "")
	}
	if n.schema == nil || s.typ == nil || len(n.keys) == 0 {
		return
	}
	if s.typ.Kind == ast.Object {
		on := ""
		if inFrag {
			on = s.typ.Name
		}
		for _, k := range n.keys[s.typ.Name] {
			n.leaf(s, k, s.typ, on)
		}
		return
	}
	for _, pt := range n.schema.GetPossibleTypes(s.typ) {
		keys := n.keys[pt.Name]
		if len(keys) == 0 {
			continue
		}
		var fr *frag
		for _, x := range s.frags {
			if x.on == pt.Name {
				fr = x
			}
		}
		if fr == nil {
			fr = &frag{on: pt.Name, sel: newSelSet(pt)}
			s.frags = append(s.frags, fr)
		}
		for _, k := range keys {
			n.leaf(fr.sel, k, pt, pt.Name)
		}
	}
}

// leaf adds the field name (no arguments) to s unless it is there, if t
// (when known) has it as a leaf.
func (n *normalizer) leaf(s *selSet, name string, t *ast.Definition, on string) {
	key := fieldKey(name, nil, nil, on)
	if s.byKey[key] != nil {
		return
	}
	f := &field{name: name, key: key}
	if t != nil {
		if f.def = t.Fields.ForName(name); f.def == nil {
			return
		}
		if ft := n.schema.Types[f.def.Type.Name()]; ft == nil || !ft.IsLeafType() {
			return
		}
	}
	s.byKey[key] = f
	s.fields = append(s.fields, f)
}

// val is a canonical argument value: a literal, with the variables whose
// declared type is a built-in scalar replaced by their values (so that
// book(id: 1) and book(id: $id) with {"id": 1} are one field), or a
// variable of another type kept as a variable, with its value's canonical
// JSON (an enum or input object needs the schema to be written as a
// literal).
type val struct {
	kind ast.ValueKind
	raw  string // scalar literal text (strings unquoted); a kept variable's name
	list []*val
	obj  []arg // sorted by name
	json []byte
	typ  *ast.Type // a kept variable's declared type
}

// value canonicalizes v. An absent variable (no value, no default) is nil.
func (n *normalizer) value(v *ast.Value) (*val, error) {
	switch v.Kind {
	case ast.Variable:
		vd := n.varDefs[v.Raw]
		if vd == nil {
			return nil, fmt.Errorf("%w: undefined variable $%s", errUnsupported, v.Raw)
		}
		x, ok := n.vars[v.Raw]
		if !ok {
			if vd.DefaultValue == nil {
				if vd.Type.NonNull {
					// A request error (§6.4.1): the origin says so, in its words.
					return nil, fmt.Errorf("%w: no value for the required $%s", errUnsupported, v.Raw)
				}
				return nil, nil
			}
			return n.value(vd.DefaultValue)
		}
		if builtinScalar(vd.Type) {
			if lit, ok := literal(x); ok {
				return lit, nil
			}
		}
		js, err := canonicalJSON(x)
		if err != nil {
			return nil, fmt.Errorf("%w: variable $%s: %w", errUnsupported, v.Raw, err)
		}
		return &val{kind: ast.Variable, raw: v.Raw, json: js, typ: vd.Type}, nil
	case ast.BlockValue:
		return &val{kind: ast.StringValue, raw: v.Raw}, nil
	case ast.ListValue:
		out := &val{kind: ast.ListValue}
		for _, c := range v.Children {
			cv, err := n.value(c.Value)
			if err != nil {
				return nil, err
			}
			if cv == nil {
				cv = &val{kind: ast.NullValue, raw: "null"}
			}
			out.list = append(out.list, cv)
		}
		return out, nil
	case ast.ObjectValue:
		out := &val{kind: ast.ObjectValue}
		for _, c := range v.Children {
			cv, err := n.value(c.Value)
			if err != nil {
				return nil, err
			}
			if cv != nil {
				out.obj = append(out.obj, arg{name: c.Name, v: cv})
			}
		}
		slices.SortFunc(out.obj, func(a, b arg) int { return cmp.Compare(a.name, b.name) })
		return out, nil
	case ast.NullValue:
		return &val{kind: ast.NullValue, raw: "null"}, nil
	}
	return &val{kind: v.Kind, raw: v.Raw}, nil
}

// builtinScalar reports whether t is a built-in scalar, or a list of
// them, at any depth and nullability: its values are written as literals
// the same way whatever the schema.
func builtinScalar(t *ast.Type) bool {
	for t.Elem != nil {
		t = t.Elem
	}
	switch t.NamedType {
	case "Int", "Float", "String", "Boolean", "ID":
		return true
	}
	return false
}

// literal turns a JSON variable value of a built-in scalar type into a
// literal.
func literal(x any) (*val, bool) {
	switch x := x.(type) {
	case nil:
		return &val{kind: ast.NullValue, raw: "null"}, true
	case string:
		return &val{kind: ast.StringValue, raw: x}, true
	case bool:
		return &val{kind: ast.BooleanValue, raw: fmt.Sprint(x)}, true
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			return &val{kind: ast.FloatValue, raw: string(x)}, true
		}
		return &val{kind: ast.IntValue, raw: string(x)}, true
	case []any:
		out := &val{kind: ast.ListValue}
		for _, e := range x {
			l, ok := literal(e)
			if !ok {
				return nil, false
			}
			out.list = append(out.list, l)
		}
		return out, true
	}
	return nil, false
}

// canonicalJSON encodes x with sorted object keys, numbers as they came
// and no HTML escaping.
func canonicalJSON(x any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
