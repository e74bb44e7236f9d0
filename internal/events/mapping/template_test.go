package mapping

import (
	"strings"
	"testing"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // segments: literals quoted, placeholders in <>
	}{
		{"literal", "books", `"books"`},
		{"placeholder", "book:{id}", `"book:"<id>`},
		{"only_placeholder", "{id}", `<id>`},
		{"two", "{a}-{b.c}", `<a>"-"<b.c>`},
		{"adjacent", "{a}{b}", `<a><b>`},
		{"escaped_braces", "{{x}}", `"{x}"`},
		{"escape_around_placeholder", "{{{id}}}", `"{"<id>"}"`},
		{"index", "{items.0.id}", `<items.0.id>`},
		{"variables", "{$topic}/{$key}/{$id}/{$header.X-Tenant}", `<$topic>"/"<$key>"/"<$id>"/"<$header.X-Tenant>`},
		{"header_with_dots", "{$header.a.b}", `<$header.a.b>`},
		{"empty", "", ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := parseTemplate(tc.src)
			if err != nil {
				t.Fatalf("parseTemplate(%q): %v", tc.src, err)
			}
			var b strings.Builder
			for _, sg := range tm.segs {
				if sg.path != nil {
					b.WriteString("<" + sg.path.src + ">")
				} else {
					b.WriteString(`"` + sg.lit + `"`)
				}
			}
			if got := b.String(); got != tc.want {
				t.Errorf("parseTemplate(%q) = %s, want %s", tc.src, got, tc.want)
			}
		})
	}
}

func TestParseTemplateErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"unclosed", "book:{id", `unclosed "{" at byte 5`},
		{"unclosed_nested", "{a{b}", `unclosed "{" at byte 0`},
		{"empty_placeholder", "book:{}", `empty "{}" at byte 5`},
		{"unmatched_close", "book:}", `unmatched "}" at byte 5`},
		{"close_after_placeholder", "{id}}", `unmatched "}" at byte 4`},
		{"double_dot", "{a..b}", "empty field"},
		{"leading_dot", "{.a}", "empty field"},
		{"trailing_dot", "{a.}", "empty field"},
		{"space", "{ id }", "want fields joined by dots"},
		{"unknown_variable", "{$topics}", `unknown variable "$topics"`},
		{"header_without_name", "{$header.}", "unknown variable"},
		{"header_alone", "{$header}", "unknown variable"},
		{"key_with_field", "{$key.a}", "unknown variable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTemplate(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseTemplate(%q) = %v, want an error with %q", tc.src, err, tc.want)
			}
		})
	}
}
