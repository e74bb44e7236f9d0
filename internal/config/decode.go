package config

import (
	"encoding"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// decoder walks a yaml.Node tree against a Go value, by reflection. Unlike yaml.v3's own
// decoding it knows the line and key path of everything it sets, so it can report every problem
// at its place, and it derives the keys a mapping accepts from the yaml struct tags of the
// target, so that adding a tagged field is all a new key needs.
//
// A null value (`key:` or `key: ~`) leaves the field as it was, that is, at its default.
// Top-level keys starting with "x-" are ignored, so that they can hold anchors.
//
// Field options in a `config:"..."` struct tag:
//   - env: a string value that is exactly "${NAME}" is replaced by the environment variable NAME.
//   - path: a relative file path is resolved against baseDir (set by Load).
type decoder struct {
	errs      *problems
	lines     map[string]int  // key path → line of its key (or of its list item)
	failed    map[string]bool // key paths whose value could not be decoded
	lookupEnv func(string) (string, bool)
	baseDir   string
	budget    int // node visits left; aliases can make a small file expand to a huge tree
}

// maxNodeVisits bounds the work of one decode, however the file's aliases multiply.
const maxNodeVisits = 1 << 20

// field is one settable key of a struct, as derived from its yaml tag.
type field struct {
	name  string
	index []int
	env   bool // config:"env"
	path  bool // config:"path"
}

// fieldsOf lists the keys of struct type t in declaration order, following ",inline" structs.
// Fields tagged yaml:"-" and unexported fields are not keys.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if slices.Contains(strings.Split(opts, ","), "inline") && sf.Type.Kind() == reflect.Struct {
			for _, f := range fieldsOf(sf.Type) {
				f.index = append([]int{i}, f.index...)
				out = append(out, f)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		f := field{name: name, index: []int{i}}
		for _, o := range strings.Split(sf.Tag.Get("config"), ",") {
			switch o {
			case "env":
				f.env = true
			case "path":
				f.path = true
			}
		}
		out = append(out, f)
	}
	return out
}

// fail records that the value at path could not be decoded, so that Validate's later
// complaints about the same key (which still holds its default) are not reported twice.
func (d *decoder) fail(line int, path, format string, args ...any) {
	d.failed[path] = true
	d.errs.addf(line, path, format, args...)
}

var (
	yamlUnmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// spend takes one node visit from the budget, reporting (once) when it runs out.
func (d *decoder) spend(line int) bool {
	d.budget--
	if d.budget == -1 {
		d.errs.addf(line, "", "document too complex: its aliases expand to more than %d values", maxNodeVisits)
	}
	return d.budget >= 0
}

// value decodes n into v. path names v in messages; line is where v's key (or list item) is.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string, line int, f field) {
	if !d.spend(line) {
		return
	}
	n = resolve(n)
	if n == nil || isNull(n) {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem(), path, line, f)
		return
	}
	pt := reflect.PointerTo(v.Type())
	switch {
	case pt.Implements(yamlUnmarshalerType):
		if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(line, path, "%s", err)
		}
		return
	case pt.Implements(textUnmarshalerType):
		if n.Kind != yaml.ScalarNode {
			d.fail(line, path, "want a single value, got %s", describe(n))
			return
		}
		if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
			d.fail(line, path, "%s", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.structValue(n, v, path, line)
	case reflect.Slice:
		d.sliceValue(n, v, path, line)
	case reflect.Map:
		d.mapValue(n, v, path, line, f)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(line, path, "want a string, got %s", describe(n))
			return
		}
		s := n.Value
		if f.env {
			var ok bool
			if s, ok = d.expandEnv(s, path, line); !ok {
				return
			}
		}
		if f.path && s != "" && d.baseDir != "" && !filepath.IsAbs(s) {
			s = filepath.Join(d.baseDir, s)
		}
		v.SetString(s)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			d.fail(line, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, ok := scalarInt(n)
		if !ok || v.OverflowInt(i) {
			d.fail(line, path, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		i, ok := scalarInt(n)
		if !ok || i < 0 || v.OverflowUint(uint64(i)) {
			d.fail(line, path, "want a non-negative integer, got %s", describe(n))
			return
		}
		v.SetUint(uint64(i))
	case reflect.Float32, reflect.Float64:
		var x float64
		if n.Kind != yaml.ScalarNode || (n.ShortTag() != "!!float" && n.ShortTag() != "!!int") || n.Decode(&x) != nil {
			d.fail(line, path, "want a number, got %s", describe(n))
			return
		}
		v.SetFloat(x)
	default:
		// A field type this decoder does not know: let yaml.v3 try, with its own message.
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(line, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
	}
}

// scalarInt reads an integer scalar: a YAML int, or a quoted decimal integer.
func scalarInt(n *yaml.Node) (int64, bool) {
	if n.Kind != yaml.ScalarNode {
		return 0, false
	}
	switch n.ShortTag() {
	case "!!int":
		var i int64
		return i, n.Decode(&i) == nil
	case "!!str":
		i, err := strconv.ParseInt(n.Value, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func (d *decoder) structValue(n *yaml.Node, v reflect.Value, path string, line int) {
	fields := fieldsOf(v.Type())
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "want a mapping with keys %s, got %s", keyList(fields), describe(n))
		return
	}
	byName := make(map[string]field, len(fields))
	names := make([]string, len(fields))
	for i, f := range fields {
		byName[f.name] = f
		names[i] = f.name
	}
	for _, p := range d.pairs(n, path) {
		key := p.key.Value
		kp := joinKey(path, key)
		f, ok := byName[key]
		if !ok && path == "" && strings.HasPrefix(key, "x-") {
			continue // extension keys, a place for anchors (as in Compose files)
		}
		if !ok {
			if s, ok := closest(key, names); ok {
				d.errs.addf(p.key.Line, kp, "unknown key (did you mean %q?)", s)
			} else {
				d.errs.addf(p.key.Line, kp, "unknown key (want one of %s)", keyList(fields))
			}
			continue
		}
		d.lines[kp] = p.key.Line
		d.value(p.value, v.FieldByIndex(f.index), kp, p.key.Line, f)
	}
}

func keyList(fields []field) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

func (d *decoder) sliceValue(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		d.fail(line, path, "want a list, got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.lines[ip] = item.Line
		d.value(item, s.Index(i), ip, item.Line, field{})
	}
	v.Set(s)
}

// f's env and path flags apply to the map's values.
func (d *decoder) mapValue(n *yaml.Node, v reflect.Value, path string, line int, f field) {
	if n.Kind != yaml.MappingNode {
		d.fail(line, path, "want a mapping, got %s", describe(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.fail(line, path, "cannot decode into %s (map keys must be strings)", v.Type())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	for _, p := range d.pairs(n, path) {
		kp := mapKey(path, p.key.Value)
		d.lines[kp] = p.key.Line
		elem := reflect.New(v.Type().Elem()).Elem()
		if old := v.MapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key())); old.IsValid() {
			elem.Set(old)
		}
		d.value(p.value, elem, kp, p.key.Line, field{env: f.env, path: f.path})
		v.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(v.Type().Key()), elem)
	}
}

type pair struct{ key, value *yaml.Node }

// pairs returns the key/value pairs of mapping n: its own keys, then the keys of the mappings
// it merges with "<<" that it does not set itself (the earliest merged mapping wins, as in
// YAML's merge key spec). Keys must be scalars and unique.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var own, merged []pair
	seen := make(map[string]int) // key → line of its first occurrence
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.spend(n.Content[i].Line) {
			return nil
		}
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			line := n.Content[i].Line
			d.errs.addf(line, path, "keys must be plain names, got %s", describe(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.mergePairs(val, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.errs.addf(k.Line, joinKey(path, k.Value), "duplicate key (first set at line %d)", first)
			continue
		}
		seen[k.Value] = k.Line
		own = append(own, pair{k, val})
	}
	for _, p := range merged {
		if _, ok := seen[p.key.Value]; !ok {
			seen[p.key.Value] = p.key.Line
			own = append(own, p)
		}
	}
	return own
}

func (d *decoder) mergePairs(val *yaml.Node, path string) []pair {
	if !d.spend(val.Line) {
		return nil
	}
	m := resolve(val)
	switch {
	case m == nil:
		return nil
	case m.Kind == yaml.MappingNode:
		return d.pairs(m, path)
	case m.Kind == yaml.SequenceNode:
		var out []pair
		seen := make(map[string]bool)
		for _, item := range m.Content {
			if r := resolve(item); r == nil || r.Kind != yaml.MappingNode {
				d.errs.addf(item.Line, joinKey(path, "<<"), "want a mapping or a list of mappings to merge, got %s", describe(r))
				continue
			}
			for _, p := range d.mergePairs(item, path) {
				if !seen[p.key.Value] {
					seen[p.key.Value] = true
					out = append(out, p)
				}
			}
		}
		return out
	default:
		d.errs.addf(val.Line, joinKey(path, "<<"), "want a mapping or a list of mappings to merge, got %s", describe(m))
		return nil
	}
}

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// expandEnv replaces a value that is exactly "${NAME}" by the environment variable NAME.
func (d *decoder) expandEnv(s, path string, line int) (string, bool) {
	if !strings.HasPrefix(s, "${") {
		return s, true
	}
	m := envRef.FindStringSubmatch(s)
	if m == nil {
		d.fail(line, path, "malformed environment reference %q (write ${NAME}, NAME made of letters, digits and _)", s)
		return "", false
	}
	lookup := d.lookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	v, ok := lookup(m[1])
	switch {
	case !ok:
		d.fail(line, path, "environment variable %s is not set", m[1])
		return "", false
	case v == "":
		d.fail(line, path, "environment variable %s is empty", m[1])
		return "", false
	}
	return v, true
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	n = resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.DocumentNode:
		return "a document"
	case isNull(n):
		return "an empty value"
	}
	s := n.Value
	if len(s) > 40 {
		s = s[:37]
		for !utf8.ValidString(s) && len(s) > 0 {
			s = s[:len(s)-1]
		}
		s += "..."
	}
	return strconv.Quote(s)
}

// joinKey appends a struct key to a key path: "cache" + "memory" → "cache.memory".
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// mapKey appends a map key to a key path, quoting keys that are not plain names:
// keys.tier → keys.tier, or keys["a b"].
func mapKey(path, key string) string {
	if plainKey.MatchString(key) {
		return joinKey(path, key)
	}
	return path + "[" + strconv.Quote(key) + "]"
}
