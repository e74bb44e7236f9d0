package mapping

import (
	"slices"
	"strings"
	"testing"
)

// FuzzMap maps arbitrary payloads and headers with a fixed mapping: Map
// must not panic, and every item it makes is non-empty.
func FuzzMap(f *testing.F) {
	m := compile(f, Config{Rules: []Rule{
		{When: map[string][]string{"type": {"book", "com.example.book.updated"}}, Tags: []string{"book:{id}", "book:{subject}"}, Soft: true},
		{When: map[string][]string{"$header.x-kind": {"author"}}, Tags: []string{"author:{data.ids}-{data.v}"}, Routes: []string{"GET /authors/{id}"}},
		{When: map[string][]string{"$topic": {"all"}}, All: true},
		{Tags: []string{"any:{$key}"}, URLs: []string{"https://{host}/books/{items.0.id}"}, Prefixes: []string{"/p/{p}"}},
	}})
	f.Add([]byte(`{"type":"book","id":1}`), "", "", "t", "k")
	f.Add([]byte(`{"specversion":"1.0","type":"com.example.book.updated","id":"e","subject":"1","data_base64":"e30="}`), "content-type", "application/cloudevents+json", "all", "")
	f.Add([]byte(`{"ids":[1,2],"v":[true,false]}`), "ce_specversion", "1.0", "t", "")
	f.Add([]byte(`{"host":"a.example","items":[{"id":"x"}],"p":"q"}`), "x-kind", "author", "", "k")
	f.Add([]byte("\x00not json"), "Ce-Type", "book", "all", "\xff")
	f.Fuzz(func(t *testing.T, data []byte, name, value, topic, key string) {
		msg := Message{Data: data, Headers: map[string]string{name: value, "ce-id": value}, Topic: topic, Key: []byte(key)}
		res, err := m.Map(msg)
		if err != nil && res.Purges != nil {
			t.Fatalf("Map: error %v with purges %+v", err, res.Purges)
		}
		if len(res.Purges) > 2 {
			t.Fatalf("Map: %d purges", len(res.Purges))
		}
		for _, p := range res.Purges {
			n := 0
			for _, l := range [][]string{p.Tags, p.URLs, p.Prefixes, p.Routes} {
				for _, s := range l {
					if s == "" {
						t.Fatalf("Map: an empty item in %+v", p)
					}
				}
				n += len(l)
			}
			if n == 0 && !p.All {
				t.Fatalf("Map: an empty purge in %+v", res)
			}
		}
	})
}

// FuzzCompile compiles arbitrary templates and paths, then maps with them
// what it compiled.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{"book:{id}", "{{x}}", "{a..b}", "{", "}", "{}", "{$header.X}", "https://{h}/{p}", "/{a}/{b}", "GET /x"} {
		f.Add(s, "data.type")
	}
	f.Fuzz(func(t *testing.T, tmpl, when string) {
		cfg := Config{ID: tmpl, Rules: []Rule{{
			When: map[string][]string{when: {"x"}}, Tags: []string{tmpl}, URLs: []string{tmpl}, Prefixes: []string{tmpl}, Routes: []string{tmpl},
		}}}
		m, errs := Compile(cfg)
		for _, e := range errs {
			if e.Msg == "" || e.Field == "" {
				t.Fatalf("Compile: error without field or message: %#v", e)
			}
		}
		if m == nil {
			return
		}
		data := `{"data":{"type":"x"},"id":"1","a":["1","2"],"h":"a.example"}`
		res, _ := m.Map(Message{Data: []byte(data), Topic: strings.ToUpper(tmpl)})
		for _, p := range res.Purges {
			if slices.Contains(p.Tags, "") || slices.Contains(p.URLs, "") || slices.Contains(p.Prefixes, "") {
				t.Fatalf("Map: an empty item in %+v", p)
			}
		}
	})
}
