package graphql

import (
	"bytes"
	"encoding/json"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"
)

// printer writes canonical GraphQL: one space where the grammar needs a
// separator, fields and fragments in canonical order, every field under its
// canonical key (as an alias where it is not the name), and the variables
// moat keeps renamed $v0, $v1… in order of first use, so that equivalent
// operations print to the same bytes.
type printer struct {
	b     bytes.Buffer
	names map[string]string // client variable name → printed name
	used  []*val            // the kept variables, in order of first use
}

// printQuery prints a query (or mutation) of fields, with the operation's
// directives, and returns it with its variables' values as a canonical
// JSON object ("{}" when it has none).
func printQuery(kind ast.Operation, opDirs []dir, fields []*field) (query string, variables []byte) {
	p := &printer{names: map[string]string{}}
	for _, d := range opDirs {
		p.dir(d)
	}
	p.b.WriteString(" {")
	for i, f := range fields {
		if i > 0 {
			p.b.WriteByte(' ')
		}
		p.field(f)
	}
	p.b.WriteString("}")
	var out bytes.Buffer
	out.WriteString(string(kind))
	vars := []byte("{}")
	if len(p.used) > 0 {
		out.WriteByte('(')
		var vb bytes.Buffer
		vb.WriteByte('{')
		for i, v := range p.used {
			if i > 0 {
				out.WriteString(", ")
				vb.WriteByte(',')
			}
			name := p.names[v.raw]
			out.WriteString("$" + name + ": " + v.typ.String())
			vb.WriteString(strconv.Quote(name) + ":")
			vb.Write(v.json)
		}
		out.WriteByte(')')
		vb.WriteByte('}')
		vars = vb.Bytes()
	}
	out.Write(p.b.Bytes())
	return out.String(), vars
}

func (p *printer) field(f *field) {
	if f.key != f.name {
		p.b.WriteString(f.key + ": ")
	}
	p.b.WriteString(f.name)
	writeArgs(&p.b, f.args, p)
	for _, d := range f.dirs {
		p.dir(d)
	}
	if f.sel != nil {
		p.sel(f.sel)
	}
}

func (p *printer) dir(d dir) {
	p.b.WriteString(" @" + d.name)
	writeArgs(&p.b, d.args, p)
}

func (p *printer) sel(s *selSet) {
	p.b.WriteString(" {")
	n := 0
	for _, f := range s.fields {
		if n > 0 {
			p.b.WriteByte(' ')
		}
		n++
		p.field(f)
	}
	for _, fr := range s.frags {
		if n > 0 {
			p.b.WriteByte(' ')
		}
		n++
		p.b.WriteString("... on " + fr.on)
		p.sel(fr.sel)
	}
	p.b.WriteString("}")
}

// writeArgs writes "(a: 1, b: $v0)". With a nil printer (for fieldKey)
// a kept variable is written as its value's JSON, so that the text names
// the value, not the variable.
func writeArgs(b *bytes.Buffer, args []arg, p *printer) {
	if len(args) == 0 {
		return
	}
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.name + ": ")
		writeVal(b, a.v, p)
	}
	b.WriteByte(')')
}

func writeVal(b *bytes.Buffer, v *val, p *printer) {
	switch v.kind {
	case ast.Variable:
		if p == nil {
			b.WriteString("$")
			b.Write(v.json)
			return
		}
		name, ok := p.names[v.raw]
		if !ok {
			name = "v" + strconv.Itoa(len(p.used))
			p.names[v.raw] = name
			p.used = append(p.used, v)
		}
		b.WriteString("$" + name)
	case ast.StringValue:
		writeString(b, v.raw)
	case ast.ListValue:
		b.WriteByte('[')
		for i, e := range v.list {
			if i > 0 {
				b.WriteString(", ")
			}
			writeVal(b, e, p)
		}
		b.WriteByte(']')
	case ast.ObjectValue:
		b.WriteByte('{')
		for i, a := range v.obj {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.name + ": ")
			writeVal(b, a.v, p)
		}
		b.WriteByte('}')
	default:
		b.WriteString(v.raw)
	}
}

// writeString writes s as a GraphQL string literal: JSON's escapes are
// GraphQL's (spec §2.9.4), without JSON's HTML escaping.
func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}
