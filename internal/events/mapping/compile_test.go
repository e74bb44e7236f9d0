package mapping

import (
	"strings"
	"testing"
)

func TestCompile(t *testing.T) {
	tags := func(ts ...string) []Rule { return []Rule{{Tags: ts}} }
	tests := []struct {
		name string
		cfg  Config
		want []Error // Msg: a substring of the message
	}{
		{"valid", Config{Format: "auto", ID: "{event_id}", Rules: []Rule{{
			When: map[string][]string{"type": {"book"}, "$header.X-Kind": {"a", "b"}},
			Tags: []string{"book:{id}", "books"}, URLs: []string{"https://{host}/books/{id}"},
			Prefixes: []string{"/books/{id}/"}, Routes: []string{"GET /books/{id}"}, Soft: true,
		}, {All: true}}}, nil},
		{"no_rules", Config{}, nil},
		{"formats", Config{Format: "cloudevents", Rules: tags("x")}, nil},
		{"bad_format", Config{Format: "xml", Rules: tags("x")},
			[]Error{{-1, "format", `want auto, json or cloudevents, got "xml"`}}},
		{"bad_id", Config{ID: "{event_id", Rules: tags("x")}, []Error{{-1, "id", "unclosed"}}},
		{"id_uses_id", Config{ID: "x-{$id}", Rules: tags("x")}, []Error{{-1, "id", "cannot use $id"}}},
		{"bad_tag", Config{Rules: tags("ok", "book:{a..b}")}, []Error{{0, "tags[1]", "empty field"}}},
		{"empty_tag", Config{Rules: tags("")}, []Error{{0, "tags[0]", "empty"}}},
		{"empty_placeholder", Config{Rules: tags("{}")}, []Error{{0, "tags[0]", `empty "{}"`}}},
		{"tag_with_space", Config{Rules: tags("book {id}")}, []Error{{0, "tags[0]", "has a space"}}},
		{"literal_tag_with_space", Config{Rules: tags("all books")}, []Error{{0, "tags[0]", "has a space"}}},
		{"tag_too_long", Config{Rules: tags(strings.Repeat("x", 257) + "{id}")}, []Error{{0, "tags[0]", "longer than 256"}}},
		{"relative_url", Config{Rules: []Rule{{URLs: []string{"/books/{id}"}}}},
			[]Error{{0, "urls[0]", "does not start with http:// or https://"}}},
		{"url_template_scheme", Config{Rules: []Rule{{URLs: []string{"{scheme}://x/{id}"}}}},
			[]Error{{0, "urls[0]", "does not start with http://"}}},
		{"literal_url_without_host", Config{Rules: []Rule{{URLs: []string{"https:///books"}}}},
			[]Error{{0, "urls[0]", "not an absolute http or https URL"}}},
		{"prefix_without_slash", Config{Rules: []Rule{{Prefixes: []string{"books/{id}"}}}},
			[]Error{{0, "prefixes[0]", "does not start with /"}}},
		{"prefix_placeholder_first", Config{Rules: []Rule{{Prefixes: []string{"{path}"}}}},
			[]Error{{0, "prefixes[0]", "does not start with /"}}},
		{"route_without_method", Config{Rules: []Rule{{Routes: []string{"/books/{id}"}}}},
			[]Error{{0, "routes[0]", "METHOD /path"}}},
		{"route_lower_method", Config{Rules: []Rule{{Routes: []string{"get /books"}}}},
			[]Error{{0, "routes[0]", "METHOD /path"}}},
		{"route_relative_path", Config{Rules: []Rule{{Routes: []string{"GET books"}}}},
			[]Error{{0, "routes[0]", "must start with /"}}},
		{"purges_nothing", Config{Rules: []Rule{{When: map[string][]string{"type": {"x"}}}}},
			[]Error{{0, "", "purges nothing"}}},
		{"soft_routes_only", Config{Rules: []Rule{{Routes: []string{"GET /books"}, Soft: true}}},
			[]Error{{0, "soft", "routes and all are always hard"}}},
		{"soft_all_only", Config{Rules: []Rule{{All: true, Soft: true}}},
			[]Error{{0, "soft", "routes and all are always hard"}}},
		{"bad_when_path", Config{Rules: []Rule{{When: map[string][]string{"data..type": {"x"}}, All: true}}},
			[]Error{{0, "when.data..type", "empty field"}}},
		{"when_unknown_variable", Config{Rules: []Rule{{When: map[string][]string{"$subject": {"x"}}, All: true}}},
			[]Error{{0, "when.$subject", "unknown variable"}}},
		{"when_without_values", Config{Rules: []Rule{{When: map[string][]string{"type": {}}, All: true}}},
			[]Error{{0, "when.type", "want a value"}}},
		{"several", Config{Format: "yaml", Rules: []Rule{{All: true}, {Tags: []string{"{"}, URLs: []string{"x"}}}},
			[]Error{{-1, "format", "want auto"}, {1, "tags[0]", "unclosed"}, {1, "urls[0]", "absolute"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, errs := Compile(tc.cfg)
			if len(errs) != len(tc.want) {
				t.Fatalf("Compile: got errors %v, want %d", errs, len(tc.want))
			}
			if (m == nil) != (len(errs) > 0) {
				t.Errorf("Compile: got Mapper %v with %d errors", m, len(errs))
			}
			for i, got := range errs {
				want := tc.want[i]
				if got.Rule != want.Rule || got.Field != want.Field || !strings.Contains(got.Msg, want.Msg) {
					t.Errorf("error %d: got {%d %q %q}, want {%d %q ...%q...}", i, got.Rule, got.Field, got.Msg, want.Rule, want.Field, want.Msg)
				}
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{0, "tags[1]", "bad"}, "mapping: rules[0].tags[1]: bad"},
		{Error{2, "", "bad"}, "mapping: rules[2]: bad"},
		{Error{-1, "id", "bad"}, "mapping: id: bad"},
		{Error{-1, "", "bad"}, "mapping: bad"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%#v.Error() = %q, want %q", tc.err, got, tc.want)
		}
	}
}
