package mapping

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
)

// A path names a value of an event: a field of its document ("data.id";
// "items.0.id" indexes a list) or a special variable ($topic, $key, $id,
// $header.Name).
type path struct {
	src    string
	kind   pathKind
	fields []string // pathDoc: the dotted fields
	header string   // pathHeader: the header's name
}

type pathKind uint8

// Path kinds, in the order a when checks them: the document last, as
// only it may need the payload parsed.
const (
	pathTopic pathKind = iota
	pathKey
	pathID
	pathHeader
	pathDoc
)

func parsePath(s string) (path, error) {
	p := path{src: s}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '{' || r == '}' {
			return p, fmt.Errorf("path %q has %q: want fields joined by dots, e.g. data.id", s, r)
		}
	}
	if v, ok := strings.CutPrefix(s, "$"); ok {
		switch {
		case v == "topic":
			p.kind = pathTopic
		case v == "key":
			p.kind = pathKey
		case v == "id":
			p.kind = pathID
		case strings.HasPrefix(v, "header.") && len(v) > len("header."):
			p.kind, p.header = pathHeader, v[len("header."):]
		default:
			return p, fmt.Errorf("unknown variable %q: want $topic, $key, $id or $header.Name", s)
		}
		return p, nil
	}
	p.kind, p.fields = pathDoc, strings.Split(s, ".")
	for _, f := range p.fields {
		if f == "" {
			return p, fmt.Errorf("path %q has an empty field: want fields joined by dots, e.g. data.id", s)
		}
	}
	return p, nil
}

// A template is literal text and placeholders, parsed once by Compile.
type template struct {
	src  string
	segs []segment
}

// segment is literal text, or a placeholder when path is set.
type segment struct {
	lit  string
	path *path
}

// parseTemplate parses "book:{id}"; "{{" and "}}" are literal braces.
func parseTemplate(s string) (template, error) {
	t := template{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t.segs = append(t.segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case (c == '{' || c == '}') && i+1 < len(s) && s[i+1] == c:
			lit.WriteByte(c)
			i++
		case c == '}':
			return t, fmt.Errorf(`unmatched "}" at byte %d of %q (write "}}" for a brace)`, i, s)
		case c == '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 || s[i+1+end] == '{' {
				return t, fmt.Errorf(`unclosed "{" at byte %d of %q (write "{{" for a brace)`, i, s)
			}
			if end == 0 {
				return t, fmt.Errorf(`empty "{}" at byte %d of %q: want a path, e.g. {id}`, i, s)
			}
			p, err := parsePath(s[i+1 : i+1+end])
			if err != nil {
				return t, err
			}
			flush()
			t.segs = append(t.segs, segment{path: &p})
			i += end + 1
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return t, nil
}

// literal returns the template's text when it has no placeholders.
func (t *template) literal() (string, bool) {
	switch {
	case len(t.segs) == 0:
		return "", true
	case len(t.segs) == 1 && t.segs[0].path == nil:
		return t.segs[0].lit, true
	}
	return "", false
}

// uses reports whether a placeholder of t is of kind k.
func (t *template) uses(k pathKind) bool {
	for _, sg := range t.segs {
		if sg.path != nil && sg.path.kind == k {
			return true
		}
	}
	return false
}

// expand appends t's items for ev to out: the cartesian product of its
// placeholders' values. Each item made is taken from *budget; an expansion
// that would overdraw it fails.
func (t *template) expand(ev *event, budget *int, out []string) ([]string, error) {
	if s, ok := t.literal(); ok {
		return t.take(budget, 1, append(out, s))
	}
	var buf [4][]string
	values := buf[:0]
	n := 1
	for _, sg := range t.segs {
		if sg.path == nil {
			continue
		}
		vs, err := ev.texts(sg.path)
		if err != nil {
			return out, err
		}
		values = append(values, vs)
		n = min(n*len(vs), MaxItems+1) // saturate: no overflow, still too many
	}
	if n == 0 {
		return out, nil
	}
	if _, err := t.take(budget, n, nil); err != nil {
		return out, err
	}
	idx := make([]int, len(values))
	var b strings.Builder
	for range n {
		b.Reset()
		v := 0
		for _, sg := range t.segs {
			if sg.path == nil {
				b.WriteString(sg.lit)
				continue
			}
			b.WriteString(values[v][idx[v]])
			v++
		}
		out = append(out, b.String())
		for v := len(idx) - 1; v >= 0; v-- { // odometer: the last placeholder turns fastest
			if idx[v]++; idx[v] < len(values[v]) {
				break
			}
			idx[v] = 0
		}
	}
	return out, nil
}

func (t *template) take(budget *int, n int, out []string) ([]string, error) {
	if n > *budget {
		return out, invalidf("too many purge items: the event makes more than %d", MaxItems)
	}
	*budget -= n
	return out, nil
}

// texts returns the strings p's value puts in a template: one for a
// scalar, one per element for a list of scalars.
func (ev *event) texts(p *path) ([]string, error) {
	v, ok, err := ev.lookup(p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalidf("%s is missing", p.src)
	}
	if s, ok := scalar(v); ok {
		return []string{s}, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, invalidf("%s is %s, want a value or a list of values", p.src, describe(v))
	}
	out := make([]string, len(list))
	for i, e := range list {
		s, ok := scalar(e)
		if !ok {
			return nil, invalidf("%s.%d is %s, want a value", p.src, i, describe(e))
		}
		out[i] = s
	}
	return out, nil
}

// scalar formats a JSON scalar: strings as they are, numbers as written,
// true and false. Null, objects and lists are not scalars.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return string(v), true
	case bool:
		if v {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	}
	return "a value"
}
