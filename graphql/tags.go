package graphql

import (
	"fmt"
	"strings"
)

// maxEntityTags bounds the entity tags of one cached root field; past it
// the field is tagged with the types of the entities it holds instead
// (typeTag), which every mutation of such an entity purges too.
// (The gateway keeps 64 tags per entry: the root field's tag, the types'
// and the route's own fit beside these.)
const maxEntityTags = 48

// entityTag is the tag of the entity of type typ whose key fields have
// the values vals: "Book:1", "Edition:isbn:2".
func entityTag(typ string, vals []string) string {
	return typ + ":" + strings.Join(vals, ":")
}

// tagValue escapes what would split a tag in a tag header (spaces,
// commas) or be mistaken for ":".
var tagValue = strings.NewReplacer("%", "%25", " ", "%20", ",", "%2C", ":", "%3A", "\t", "%09")

// typeTag is the tag of every entry that holds more entities of type typ
// than it could name.
func typeTag(typ string) string { return "type:" + typ }

// rootTag is the tag of every entry of one root field: "Query.books".
func rootTag(parent, name string) string { return parent + "." + name }

// tagger collects the entity tags of a value.
type tagger struct {
	limit int // entity tags at most; 0: no limit
	// injectedOnly: only moat's own aliases name an object's type and
	// keys (a mutation whose client aliased a key's name, say "id: title",
	// would otherwise name another entity).
	injectedOnly bool
	keys         map[string][]string
	tags         map[string]bool
	types        map[string]bool // types over the limit
	seen         map[string]bool // types of every entity found
}

func newTagger(keys map[string][]string, limit int) *tagger {
	return &tagger{limit: limit, keys: keys, tags: map[string]bool{}, types: map[string]bool{}, seen: map[string]bool{}}
}

// lookup returns obj's value for name: moat's injected alias first, then
// (unless injectedOnly) the field under its own name.
func (t *tagger) lookup(obj map[string]any, injected, name string) (any, bool) {
	if v, ok := obj[injected]; ok {
		return v, true
	}
	if t.injectedOnly {
		return nil, false
	}
	v, ok := obj[name]
	return v, ok
}

// entity records obj as an entity if its __typename is a keyed type and
// it carries the key fields (as themselves, or as moat's injected
// "moat__key_" aliases).
func (t *tagger) entity(obj map[string]any) {
	tv, _ := t.lookup(obj, injectedTypename, "__typename")
	typ, _ := tv.(string)
	kf := t.keys[typ]
	if len(kf) == 0 {
		return
	}
	vals := make([]string, len(kf))
	for i, k := range kf {
		v, ok := t.lookup(obj, injectedKeyPrefix+k, k)
		if !ok || v == nil {
			return
		}
		vals[i] = tagValue.Replace(fmt.Sprint(v))
	}
	t.seen[typ] = true
	if t.limit > 0 && len(t.tags) >= t.limit {
		t.types[typ] = true
		return
	}
	t.tags[entityTag(typ, vals)] = true
}

// walk records the entities in v, selected by s.
func (t *tagger) walk(v any, s *selSet) {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			t.walk(e, s)
		}
	case map[string]any:
		t.entity(t.view(v, s))
		for _, f := range s.fields {
			if f.sel != nil {
				t.walk(v[f.key], f.sel)
			}
		}
		for _, fr := range s.frags {
			if v[markerPrefix+fr.on] != nil {
				t.walk(v, fr.sel) // the same object seen through the fragment
			}
		}
	}
}

// view is obj by field name (canonical data is by canonical key): the
// fields without arguments of s and of its fragments that applied.
func (t *tagger) view(obj map[string]any, s *selSet) map[string]any {
	out := map[string]any{}
	var add func(s *selSet)
	add = func(s *selSet) {
		for _, f := range s.fields {
			if len(f.args) == 0 && len(f.dirs) == 0 && !strings.HasPrefix(f.key, markerPrefix) {
				if v, ok := obj[f.key]; ok {
					out[f.name] = v
				}
			}
		}
		for _, fr := range s.frags {
			if obj[markerPrefix+fr.on] != nil {
				add(fr.sel)
			}
		}
	}
	add(s)
	return out
}

// list returns the tags collected.
func (t *tagger) list() []string {
	out := make([]string, 0, len(t.tags)+len(t.types))
	for typ := range t.types {
		out = append(out, typeTag(typ)) // first: a bounded list keeps them
	}
	for tag := range t.tags {
		out = append(out, tag)
	}
	return out
}

// Names of the fields moat adds to a mutation to find the entities in its
// response (removed before the client sees it).
const (
	injectedTypename  = "moat__typename"
	injectedKeyPrefix = "moat__key_"
	injectedPrefix    = "moat__"
)
