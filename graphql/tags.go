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
	keys  map[string][]string
	tags  map[string]bool
	types map[string]bool // types over the limit
}

func newTagger(keys map[string][]string, limit int) *tagger {
	return &tagger{limit: limit, keys: keys, tags: map[string]bool{}, types: map[string]bool{}}
}

// entity records obj as an entity if its __typename is a keyed type and
// it carries the key fields (as themselves, or as moat's injected
// "moat__key_" aliases).
func (t *tagger) entity(obj map[string]any) {
	typ, _ := obj["__typename"].(string)
	if typ == "" {
		typ, _ = obj[injectedTypename].(string)
	}
	kf := t.keys[typ]
	if len(kf) == 0 {
		return
	}
	vals := make([]string, len(kf))
	for i, k := range kf {
		v, ok := obj[k]
		if !ok {
			v, ok = obj[injectedKeyPrefix+k]
		}
		if !ok || v == nil {
			return
		}
		vals[i] = tagValue.Replace(fmt.Sprint(v))
	}
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
		t.entity(v)
		for _, f := range s.fields {
			if f.sel != nil {
				t.walk(v[f.key], f.sel)
			}
		}
		for _, fr := range s.frags {
			if v[markerPrefix+fr.on] != nil {
				t.walk(v, fr.sel)
			}
		}
	}
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
