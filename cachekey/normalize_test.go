package cachekey

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func boolPtr(b bool) *bool { return &b }

// normalized returns Normalize's result for target ("/path?query") as
// "path?query", or "path" when the query is empty.
func normalized(t *testing.T, o Options, p *Params, target string) (string, bool) {
	t.Helper()
	n, err := NewNormalizer(o)
	if err != nil {
		t.Fatalf("NewNormalizer: %v", err)
	}
	var rules *ParamRules
	if p != nil {
		if rules, err = n.CompileParams(*p); err != nil {
			t.Fatalf("CompileParams: %v", err)
		}
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		t.Fatalf("ParseRequestURI(%q): %v", target, err)
	}
	path, query, changed := n.Normalize(u, rules)
	if query != "" {
		path += "?" + query
	}
	return path, changed
}

func TestNormalize(t *testing.T) {
	collapse := Options{CollapseSlashes: true}
	tests := []struct {
		name   string
		opts   Options
		params *Params
		in     string
		want   string
	}{
		// Query order and tracking.
		{"sorted_by_name", Options{}, nil, "/p?sort=price&page=1", "/p?page=1&sort=price"},
		{"tracking_stripped", Options{}, nil, "/p?page=1&sort=price&utm_source=x", "/p?page=1&sort=price"},
		{"name_then_value", Options{}, nil, "/p?a-b=1&a=2&a=1", "/p?a=1&a=2&a-b=1"},
		{"repeated_values_sorted", Options{}, nil, "/p?id=3&id=1&id=2", "/p?id=1&id=2&id=3"},
		{"repeated_values_kept_in_order", Options{KeepValueOrder: true}, nil, "/p?id=3&b=1&id=1", "/p?b=1&id=3&id=1"},
		{"sort_off", Options{SortQuery: boolPtr(false)}, nil, "/p?b=1&a=2&utm_medium=x", "/p?b=1&a=2"},
		{"flag_before_empty_value", Options{}, nil, "/p?flag=&flag", "/p?flag&flag="},
		{"flag_kept_bare", Options{}, nil, "/p?flag", "/p?flag"},
		{"tracking_all_defaults", Options{}, nil,
			"/p?fbclid=1&gclid=2&dclid=3&msclkid=4&mc_cid=5&mc_eid=6&_ga=7&_gl=8&igshid=9&yclid=10&utm_campaign=11&x=1", "/p?x=1"},
		{"tracking_ignores_case", Options{}, nil, "/p?UTM_Source=x&FbClId=1&a=1", "/p?a=1"},
		{"tracking_matches_decoded_name", Options{}, nil, "/p?utm%5Fsource=x&a=1", "/p?a=1"},
		{"tracking_not_prefix_of_other_names", Options{}, nil, "/p?gclid_x=1&xutm_a=2", "/p?gclid_x=1&xutm_a=2"},
		{"tracking_off", Options{StripTracking: boolPtr(false)}, nil, "/p?utm_source=x", "/p?utm_source=x"},
		{"tracking_extra_glob", Options{TrackingParams: []string{"ref_*", "s?d"}}, nil, "/p?Ref_Campaign=1&SID=2&sd=3&utm_id=4", "/p?sd=3"},
		{"tracking_extra_without_defaults", Options{StripTracking: boolPtr(false), TrackingParams: []string{"ref"}}, nil, "/p?ref=1&utm_id=4", "/p?utm_id=4"},

		// Percent-encoding (RFC 3986 §6.2.2.2).
		{"unreserved_decoded_path", Options{}, nil, "/%7e%41%2d%5F%2e%30", "/~A-_.0"},
		{"unreserved_decoded_query", Options{}, nil, "/p?x=%7e&%61=1", "/p?a=1&x=~"},
		{"encoded_slash_kept_upper", Options{}, nil, "/a%2fb", "/a%2Fb"},
		{"reserved_kept_encoded", Options{}, nil, "/a%3ab%40?q=%3d%26", "/a%3Ab%40?q=%3D%26"},
		{"reserved_kept_bare", Options{}, nil, "/a:b@c!$?q=a:b/c?d", "/a:b@c!$?q=a:b/c?d"},
		{"plus_is_space", Options{}, nil, "/p?q=a+b", "/p?q=a%20b"},
		{"pct20_is_space", Options{}, nil, "/p?q=a%20b", "/p?q=a%20b"},
		{"encoded_plus_kept", Options{}, nil, "/p?q=a%2bb", "/p?q=a%2Bb"},
		{"plus_in_path_kept", Options{}, nil, "/a+b", "/a+b"},
		{"space_encoded", Options{}, nil, "/a%20b", "/a%20b"},
		{"non_ascii_query_encoded", Options{}, nil, "/p?q=é", "/p?q=%C3%A9"},
		{"brackets_left_alone", Options{}, nil, "/a[1]?f[x]=1", "/a[1]?f[x]=1"},

		// Invalid escapes stay as they are, and decoding never makes one valid.
		{"stray_percent", Options{}, nil, "/p?q=%zz&r=%&s=%4", "/p?q=%zz&r=%&s=%4"},
		{"stray_then_escape", Options{}, nil, "/p?q=%%341", "/p?q=%%341"},
		{"stray_then_hex_then_escape", Options{}, nil, "/p?q=%4%31", "/p?q=%4%31"},
		{"stray_then_letter_escape", Options{}, nil, "/p?q=%%67", "/p?q=%g"},

		// Dot segments (RFC 3986 §5.2.4) and slashes.
		{"dots_removed", Options{}, nil, "/a/b/../c/./d", "/a/c/d"},
		{"dots_above_root", Options{}, nil, "/../../a", "/a"},
		{"dotdot_at_end", Options{}, nil, "/a/b/..", "/a/"},
		{"dot_at_end", Options{}, nil, "/a/.", "/a/"},
		{"encoded_dots", Options{}, nil, "/a/%2E%2e/b", "/b"},
		{"dots_with_encoded_slash", Options{}, nil, "/a/..%2Fb", "/a/..%2Fb"},
		{"dotted_names_kept", Options{}, nil, "/a/.b/..c/...", "/a/.b/..c/..."},
		{"slashes_kept", Options{}, nil, "//a//b/", "//a//b/"},
		{"slashes_collapsed", collapse, nil, "//a//b/", "/a/b/"},
		{"slashes_then_dots", collapse, nil, "/a//../b", "/b"},
		{"empty_segment_popped", Options{}, nil, "/a//../b", "/a/b"},
		{"asterisk", Options{}, nil, "*", "*"},

		// Empty queries and parameters.
		{"empty_query", Options{}, nil, "/a?", "/a"},
		{"only_separators", Options{}, nil, "/a?&&", "/a"},
		{"empty_parameters", Options{}, nil, "/a?b=2&&a=1&", "/a?a=1&b=2"},
		{"only_tracking", Options{}, nil, "/a?utm_source=x", "/a"},

		// Route parameters.
		{"default_removed", Options{}, &Params{Defaults: map[string]string{"page": "1"}}, "/p?page=1&q=x", "/p?q=x"},
		{"default_encoded", Options{}, &Params{Defaults: map[string]string{"page": "1"}}, "/p?page=%31", "/p"},
		{"default_encoded_name", Options{}, &Params{Defaults: map[string]string{"page": "1"}}, "/p?pag%65=1", "/p"},
		{"default_with_space", Options{}, &Params{Defaults: map[string]string{"q": "a b"}}, "/p?q=a+b", "/p"},
		{"default_with_pct20", Options{}, &Params{Defaults: map[string]string{"q": "a b"}}, "/p?q=a%20b", "/p"},
		{"default_with_reserved", Options{}, &Params{Defaults: map[string]string{"q": "a&b"}}, "/p?q=a%26b", "/p"},
		{"default_other_value_kept", Options{}, &Params{Defaults: map[string]string{"page": "1"}}, "/p?page=2", "/p?page=2"},
		{"default_case_sensitive", Options{}, &Params{Defaults: map[string]string{"sort": "relevance"}}, "/p?sort=Relevance&Sort=relevance", "/p?Sort=relevance&sort=Relevance"},
		{"default_repeated_kept", Options{}, &Params{Defaults: map[string]string{"page": "1"}}, "/p?page=2&page=1", "/p?page=1&page=2"},
		{"default_repeated_bare_kept", Options{}, &Params{Defaults: map[string]string{"page": ""}}, "/p?page&page=", "/p?page&page="},
		{"default_bare_kept", Options{}, &Params{Defaults: map[string]string{"page": ""}}, "/p?page", "/p?page"},
		{"default_empty_removed", Options{}, &Params{Defaults: map[string]string{"page": ""}}, "/p?page=", "/p"},
		{"defaults_two", Options{}, &Params{Defaults: map[string]string{"page": "1", "sort": "relevance"}},
			"/p?sort=relevance&q=x&page=1&utm_source=y", "/p?q=x"},
		{"allow", Options{}, &Params{Allow: []string{"page", "q"}}, "/p?page=2&junk=1&q=x&Page=3", "/p?page=2&q=x"},
		{"allow_exempts_tracking", Options{}, &Params{Allow: []string{"gclid"}}, "/p?gclid=1&utm_source=x", "/p?gclid=1"},
		{"allow_and_default", Options{}, &Params{Allow: []string{"page"}, Defaults: map[string]string{"page": "1"}}, "/p?page=1&x=2", "/p"},
		{"allow_drops_everything", Options{}, &Params{Allow: []string{"page"}}, "/p?x=1", "/p"},
		{"strip_globs", Options{}, &Params{Strip: []string{"debug*", "x-?", "[ab]c"}},
			"/p?debug_level=1&X-a=1&x-ab=2&ac=1&bc=2&cc=3&keep=1", "/p?cc=3&keep=1&x-ab=2"},
		{"strip_decoded_name_with_slash", Options{}, &Params{Strip: []string{"a/*"}}, "/p?a%2Fb=1&a=2", "/p?a=2"},
		{"strip_star_crosses_slash", Options{}, &Params{Strip: []string{"f*"}}, "/p?f/x=1&g=1", "/p?g=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := normalized(t, tt.opts, tt.params, tt.in)
			if got != tt.want {
				t.Errorf("Normalize(%q) = %q, want %q", tt.in, got, tt.want)
			}
			again, changed := normalized(t, tt.opts, tt.params, got)
			if again != got || changed {
				t.Errorf("Normalize(%q) = %q, changed=%v; want %q, changed=false (idempotent)", got, again, changed, got)
			}
		})
	}
}

func TestNormalizeSameKey(t *testing.T) {
	// Each group spells one resource; all must normalize alike.
	groups := []struct {
		name   string
		params *Params
		urls   []string
	}{
		{"issue_example", nil, []string{"/p?sort=price&page=1", "/p?page=1&sort=price&utm_source=x"}},
		{"space_spellings", nil, []string{"/s?q=a+b", "/s?q=a%20b", "/s?q=%61+b"}},
		{"defaults_spelled_out", &Params{Defaults: map[string]string{"page": "1", "sort": "relevance"}},
			[]string{"/s?q=x", "/s?q=x&page=1", "/s?sort=relevance&q=x&page=%31", "/s?q=x&fbclid=abc&sort=relevance"}},
		{"hex_case", nil, []string{"/a%2fb?x=%3a", "/a%2Fb?x=%3A"}},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			first, _ := normalized(t, Options{}, g.params, g.urls[0])
			for _, u := range g.urls[1:] {
				if got, _ := normalized(t, Options{}, g.params, u); got != first {
					t.Errorf("Normalize(%q) = %q, want %q (as for %q)", u, got, first, g.urls[0])
				}
			}
		})
	}
}

func TestNormalizeDistinct(t *testing.T) {
	// Each pair differs in meaning; normalization must keep them apart.
	pairs := [][2]string{
		{"/a%2Fb", "/a/b"},
		{"/p?flag", "/p?flag="},
		{"/p?q=a%2Bb", "/p?q=a+b"},
		{"/p?q=%zz", "/p?q=%25zz"},
		{"/p?q=%%341", "/p?q=%41"},
		{"/p?a=1&b=2", "/p?a=1%26b=2"},
		{"/p?id=1&id=2", "/p?id=12"},
		{"/a//b", "/a/b"},
		{"/p?Page=1", "/p?page=1"},
		{"/a%3Bb", "/a;b"},
	}
	for _, p := range pairs {
		a, _ := normalized(t, Options{}, nil, p[0])
		b, _ := normalized(t, Options{}, nil, p[1])
		if a == b {
			t.Errorf("Normalize(%q) = Normalize(%q) = %q, want them distinct", p[0], p[1], a)
		}
	}
}

func TestNormalizeChanged(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"/a", false},
		{"/a?b=1&c=2", false},
		{"/a%2Fb?q=%3A", false},
		{"/a?", true},
		{"/a?c=1&b=2", true},
		{"/a?b=1&utm_source=2", true},
		{"/a/./b", true},
		{"/%7e", true},
		{"/a?q=%zz", false},
	}
	for _, tt := range tests {
		if _, changed := normalized(t, Options{}, nil, tt.in); changed != tt.want {
			t.Errorf("Normalize(%q) changed = %v, want %v", tt.in, changed, tt.want)
		}
	}
}

func TestNormalizeURLForms(t *testing.T) {
	n, _ := NewNormalizer(Options{})
	t.Run("empty_path", func(t *testing.T) {
		path, query, changed := n.Normalize(&url.URL{RawQuery: "b=1&a=2"}, nil)
		if path != "/" || query != "a=2&b=1" || !changed {
			t.Errorf("Normalize = %q, %q, %v; want \"/\", \"a=2&b=1\", true", path, query, changed)
		}
	})
	t.Run("relative_path_rooted", func(t *testing.T) {
		path, _, changed := n.Normalize(&url.URL{Path: "a/./b/../c"}, nil)
		if path != "/a/c" || !changed {
			t.Errorf("Normalize path = %q, %v; want \"/a/c\", true", path, changed)
		}
	})
	t.Run("opaque_kept", func(t *testing.T) {
		path, query, _ := n.Normalize(&url.URL{Scheme: "http", Opaque: "foo/../x", RawQuery: "a=1"}, nil)
		if path != "foo/../x" || query != "a=1" {
			t.Errorf("Normalize = %q, %q; want \"foo/../x\", \"a=1\"", path, query)
		}
	})
	t.Run("path_needing_escapes", func(t *testing.T) {
		path, _, _ := n.Normalize(&url.URL{Path: "/a b/é/%"}, nil)
		if want := "/a%20b/%C3%A9/%25"; path != want {
			t.Errorf("Normalize path = %q, want %q", path, want)
		}
	})
}

func TestSetPathQuery(t *testing.T) {
	n, _ := NewNormalizer(Options{})
	for _, target := range []string{"/a%2fb/%7e?utm_source=x&q=1", "/a!b?", "/x/../y%21", "/plain?b=1&a=2", "*"} {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			t.Fatal(err)
		}
		path, query, _ := n.Normalize(u, nil)
		SetPathQuery(u, path, query)
		if u.EscapedPath() != path || u.RawQuery != query || u.ForceQuery {
			t.Errorf("after SetPathQuery(%q, %q): EscapedPath %q, RawQuery %q, ForceQuery %v", path, query, u.EscapedPath(), u.RawQuery, u.ForceQuery)
		}
		if _, _, changed := n.Normalize(u, nil); changed {
			t.Errorf("%q: Normalize after SetPathQuery reports a change", target)
		}
	}
}

func TestNewNormalizerErrors(t *testing.T) {
	_, err := NewNormalizer(Options{TrackingParams: []string{"ok_*", "bad["}})
	if !errors.Is(err, ErrInvalidPattern) || !strings.Contains(err.Error(), `"bad["`) || !strings.Contains(err.Error(), "tracking_params[1]") {
		t.Errorf("NewNormalizer(bad pattern) error = %v, want ErrInvalidPattern naming \"bad[\" at tracking_params[1]", err)
	}
	if _, err := NewNormalizer(Options{TrackingParams: []string{""}}); !errors.Is(err, ErrInvalidPattern) {
		t.Errorf("NewNormalizer(empty pattern) error = %v, want ErrInvalidPattern", err)
	}
}

func TestCompileParamsErrors(t *testing.T) {
	n, _ := NewNormalizer(Options{})
	tests := []struct {
		name   string
		params Params
		want   string
	}{
		{"bad_strip", Params{Strip: []string{`x\`}}, `invalid glob pattern "x\\" at strip[0]`},
		{"empty_allow", Params{Allow: []string{"a", ""}}, "allow[1]: empty parameter name"},
		{"allow_stripped", Params{Allow: []string{"page", "Debug"}, Strip: []string{"debug*"}}, `allow[1]: "Debug" is also matched by a strip pattern`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := n.CompileParams(tt.params)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CompileParams error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestNormalizeAllocs(t *testing.T) {
	n, _ := NewNormalizer(Options{})
	rules, _ := n.CompileParams(Params{Defaults: map[string]string{"page": "1"}, Strip: []string{"debug*"}})
	for _, target := range []string{"/api/products", "/api/products/42?page=2&q=shoes&sort=price"} {
		u, _ := url.ParseRequestURI(target)
		allocs := testing.AllocsPerRun(100, func() { n.Normalize(u, rules) })
		if allocs != 0 {
			t.Errorf("Normalize(%q) allocates %v times, want 0", target, allocs)
		}
	}
}

// TestNormalizerConcurrent shares one Normalizer and its rules between
// goroutines; run with -race.
func TestNormalizerConcurrent(t *testing.T) {
	n, _ := NewNormalizer(Options{TrackingParams: []string{"ref*"}})
	rules, _ := n.CompileParams(Params{Defaults: map[string]string{"page": "1"}, Strip: []string{"debug*"}})
	targets := []string{"/a?b=1&a=2&utm_source=x", "/a/./b?page=1&ref=x", "/a?q=a+b&debug=1", "/a"}
	want := make([]string, len(targets))
	for i, target := range targets {
		u, _ := url.ParseRequestURI(target)
		p, q, _ := n.Normalize(u, rules)
		want[i] = p + "?" + q
	}
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 200; i++ {
				target := targets[i%len(targets)]
				u, _ := url.ParseRequestURI(target)
				if p, q, _ := n.Normalize(u, rules); p+"?"+q != want[i%len(targets)] {
					t.Errorf("Normalize(%q) = %q, want %q", target, p+"?"+q, want[i%len(targets)])
					return
				}
			}
		}()
	}
	for g := 0; g < 4; g++ {
		<-done
	}
}

func TestAmbiguous(t *testing.T) {
	for _, tt := range []struct {
		path string
		want bool
	}{
		{"/static/app.js", false},
		{"/a/b%2Fc", false},
		{"/files/..foo", false},
		{"/a;v=1/b", false},
		{"/a/..%2Fb", true},
		{"/a/..%5Cb", true},
		{"/a/..\\b", true},
		{"/a/.%2Fb", true},
		{"/static/..;/account", true},
		{"/static/.;x/account", true},
	} {
		if got := Ambiguous(tt.path); got != tt.want {
			t.Errorf("Ambiguous(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
}
