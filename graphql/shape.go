package graphql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
)

// errShape says the client's operation selects two different fields under
// one response key where both apply: invalid GraphQL (§5.3.2) that only a
// schema would have caught before.
var errShape = errors.New("graphql: fields conflict")

// shaper writes the client's response from canonical data: the client's
// response keys (aliases), its field order, its fragments, as GraphQL's
// CollectFields and ExecuteSelectionSet (spec §6.3) would have produced
// them from the same data.
type shaper struct {
	op *operation
	b  bytes.Buffer
}

type group struct {
	key    string // the client's response key
	fields []*ast.Field
}

// data writes the "data" object of the client's operation from root, the
// canonical values of its root fields by canonical key.
func (sh *shaper) data(root map[string]any) error {
	return sh.object([]ast.SelectionSet{sh.op.def.SelectionSet}, root, rootName(sh.op.def, sh.op.rootT))
}

// collect groups the fields of sels that apply to obj by response key, in
// order of first appearance (CollectFields).
func (sh *shaper) collect(groups []group, ss ast.SelectionSet, obj map[string]any, parent string) []group {
	for _, sel := range ss {
		switch s := sel.(type) {
		case *ast.Field:
			if sh.op.cfield[s] == nil {
				continue // skipped (@skip, @include)
			}
			found := false
			for i := range groups {
				if groups[i].key == s.Alias {
					groups[i].fields = append(groups[i].fields, s)
					found = true
					break
				}
			}
			if !found {
				groups = append(groups, group{key: s.Alias, fields: []*ast.Field{s}})
			}
		case *ast.InlineFragment:
			groups = sh.fragment(groups, s, s.TypeCondition, s.SelectionSet, obj, parent)
		case *ast.FragmentSpread:
			if def := sh.op.doc.Fragments.ForName(s.Name); def != nil {
				groups = sh.fragment(groups, s, def.TypeCondition, def.SelectionSet, obj, parent)
			}
		}
	}
	return groups
}

func (sh *shaper) fragment(groups []group, at ast.Selection, on string, ss ast.SelectionSet, obj map[string]any, parent string) []group {
	mode, ok := sh.op.modes[site{at, parent}]
	switch {
	case !ok || mode == fragDrop:
		return groups // skipped, or never applies
	case mode == fragFlatten:
		return sh.collect(groups, ss, obj, parent)
	case obj[markerPrefix+on] != nil:
		return sh.collect(groups, ss, obj, on)
	}
	return groups
}

func (sh *shaper) object(sels []ast.SelectionSet, obj map[string]any, parent string) error {
	var groups []group
	for _, ss := range sels {
		groups = sh.collect(groups, ss, obj, parent)
	}
	sh.b.WriteByte('{')
	for i, g := range groups {
		if i > 0 {
			sh.b.WriteByte(',')
		}
		cf := sh.op.cfield[g.fields[0]]
		for _, f := range g.fields[1:] {
			if sh.op.cfield[f].key != cf.key {
				return fmt.Errorf("%w: %q", errShape, g.key)
			}
		}
		writeKey(&sh.b, g.key)
		v := obj[cf.key]
		if cf.sel == nil {
			if err := writeJSON(&sh.b, v); err != nil {
				return err
			}
			continue
		}
		sub := make([]ast.SelectionSet, len(g.fields))
		for i, f := range g.fields {
			sub[i] = f.SelectionSet
		}
		if err := sh.value(sub, v, typeName(cf.typ)); err != nil {
			return err
		}
	}
	sh.b.WriteByte('}')
	return nil
}

// value writes a composite field's value: null, a list (of any depth) or
// an object shaped by sels.
func (sh *shaper) value(sels []ast.SelectionSet, v any, typ string) error {
	switch v := v.(type) {
	case map[string]any:
		return sh.object(sels, v, typ)
	case []any:
		sh.b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				sh.b.WriteByte(',')
			}
			if err := sh.value(sels, e, typ); err != nil {
				return err
			}
		}
		sh.b.WriteByte(']')
		return nil
	}
	return writeJSON(&sh.b, v)
}

// clientPath maps an error's path in canonical keys to the client's
// response keys, following the data; an element it cannot map stays as it
// is.
func (sh *shaper) clientPath(root map[string]any, path []any) []any {
	out := make([]any, len(path))
	copy(out, path)
	sels := []ast.SelectionSet{sh.op.def.SelectionSet}
	var obj any = root
	parent := rootName(sh.op.def, sh.op.rootT)
	for i, el := range path {
		switch el := el.(type) {
		case string:
			m, ok := obj.(map[string]any)
			if !ok {
				return out
			}
			var groups []group
			for _, ss := range sels {
				groups = sh.collect(groups, ss, m, parent)
			}
			var match *group
			for gi := range groups {
				if cf := sh.op.cfield[groups[gi].fields[0]]; cf.key == el {
					match = &groups[gi]
					break
				}
			}
			if match == nil {
				return out
			}
			out[i] = match.key
			cf := sh.op.cfield[match.fields[0]]
			sels = sels[:0:0]
			for _, f := range match.fields {
				sels = append(sels, f.SelectionSet)
			}
			obj, parent = m[el], typeName(cf.typ)
		case json.Number, float64, int:
			l, ok := obj.([]any)
			idx, err := strconv.Atoi(fmt.Sprint(el))
			if !ok || err != nil || idx < 0 || idx >= len(l) {
				return out
			}
			obj = l[idx]
		default:
			return out
		}
	}
	return out
}

// writeKey writes a JSON object key and its colon.
func writeKey(b *bytes.Buffer, k string) {
	writeString(b, k)
	b.WriteByte(':')
}

// writeJSON writes a leaf value as it came (numbers keep their text).
func writeJSON(b *bytes.Buffer, v any) error {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
		return nil
	case string:
		writeString(b, v)
		return nil
	case json.Number:
		b.WriteString(string(v))
		return nil
	case bool:
		b.WriteString(strconv.FormatBool(v))
		return nil
	}
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1)
	return nil
}

// decodeJSON decodes data with numbers kept as json.Number.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("graphql: trailing data after JSON value")
	}
	return nil
}
