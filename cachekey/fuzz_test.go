package cachekey

import (
	"bytes"
	"net/url"
	"path"
	"slices"
	"strings"
	"testing"
)

// fuzzNormalizers are the configurations FuzzNormalize picks from.
func fuzzNormalizers(t testing.TB) []struct {
	n     *Normalizer
	rules *ParamRules
} {
	var out []struct {
		n     *Normalizer
		rules *ParamRules
	}
	for _, o := range []Options{
		{},
		{CollapseSlashes: true, KeepValueOrder: true, TrackingParams: []string{"x*y", "[a-c]?"}},
		{SortQuery: boolPtr(false), StripTracking: boolPtr(false)},
	} {
		n, err := NewNormalizer(o)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*Params{
			nil,
			{Defaults: map[string]string{"page": "1", "q": "a b", "e": ""}, Strip: []string{"debug*", "*/*"}},
			{Allow: []string{"page", "q", "a/b", "flag"}, Defaults: map[string]string{"page": "1"}},
		} {
			var rules *ParamRules
			if p != nil {
				if rules, err = n.CompileParams(*p); err != nil {
					t.Fatal(err)
				}
			}
			out = append(out, struct {
				n     *Normalizer
				rules *ParamRules
			}{n, rules})
		}
	}
	return out
}

// FuzzNormalize checks that Normalize never panics, that its output is
// canonical (normalizing it again changes nothing), that SetPathQuery
// carries it exactly, and that it keeps the meaning of what it keeps.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{
		"/p?sort=price&page=1", "/p?page=1&sort=price&utm_source=x", "/a%2fb/%7e/../c?q=a+b&q=a%20b",
		"//a//b/./..", "/p?q=%%341&r=%4%31&s=%zz", "/p?flag&flag=&&x", "*", "/é?é=é", "/a?", "/%2E%2E/x",
		"/p?page=%31&q=a+b&e=&debug_x=1&a%2Fb=2&Page=3",
	} {
		p, q, _ := strings.Cut(s, "?")
		f.Add(p, q, uint8(0), strings.Contains(s, "?"))
	}
	configs := fuzzNormalizers(f)
	f.Fuzz(func(t *testing.T, p, q string, config uint8, force bool) {
		c := configs[int(config)%len(configs)]
		u := &url.URL{Path: p, RawQuery: q, ForceQuery: force && q == ""}
		if parsed, err := url.ParseRequestURI("/" + strings.TrimPrefix(p, "/") + "?" + q); err == nil {
			u = parsed // exercise RawPath too
		}
		path, query, changed := c.n.Normalize(u, c.rules)
		wantChanged := path != u.EscapedPath() || query != u.RawQuery || u.ForceQuery && query == ""
		if changed != wantChanged {
			t.Fatalf("Normalize(%q, %q) = %q, %q, changed=%v; want changed=%v", u.EscapedPath(), u.RawQuery, path, query, changed, wantChanged)
		}

		out := &url.URL{}
		SetPathQuery(out, path, query)
		if out.EscapedPath() != path || out.RawQuery != query {
			t.Fatalf("SetPathQuery(%q, %q) gives %q, %q", path, query, out.EscapedPath(), out.RawQuery)
		}
		path2, query2, changed2 := c.n.Normalize(out, c.rules)
		if path2 != path || query2 != query || changed2 {
			t.Fatalf("not idempotent: %q?%q → %q?%q → %q?%q (changed=%v)", u.EscapedPath(), u.RawQuery, path, query, path2, query2, changed2)
		}

		// Kept parameters decode as the input's did: nothing is merged or
		// altered. Without stripping rules, none is lost either.
		in := decodedParams(u.RawQuery)
		for _, dp := range decodedParams(query) {
			i := slices.Index(in, dp)
			if i < 0 {
				t.Fatalf("query %q → %q: parameter %q is not in the input", u.RawQuery, query, dp)
			}
			in = slices.Delete(in, i, i+1)
		}
		if c.rules == nil && c.n.tracking.empty() && len(in) > 0 {
			t.Fatalf("query %q → %q lost %q", u.RawQuery, query, in)
		}

		// Without dot segments or collapsing, the path's segments decode
		// as the input's did.
		orig := u.EscapedPath()
		if !bytes.Contains(appendDecoded(nil, orig), []byte(".")) && !c.n.collapse && path != "*" && u.Opaque == "" {
			want := decodedSegments(strings.TrimPrefix(orig, "/"))
			if got := decodedSegments(strings.TrimPrefix(path, "/")); !slices.Equal(got, want) {
				t.Fatalf("path %q → %q: segments %q, want %q", orig, path, got, want)
			}
		}
	})
}

func decodedParams(q string) []string {
	var out []string
	for _, seg := range strings.Split(q, "&") {
		if seg != "" {
			out = append(out, string(appendDecoded(nil, seg)))
		}
	}
	return out
}

func decodedSegments(p string) []string {
	var out []string
	for _, seg := range strings.Split(p, "/") {
		out = append(out, string(appendDecoded(nil, strings.ReplaceAll(seg, "+", "%2B"))))
	}
	return out
}

// upperASCII upper-cases ASCII letters only: strings.ToUpper would turn
// 'ſ' into 'S' and make an invalid range valid.
func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// checkNegotiation checks the properties Language and MediaType share: no
// panic, a result that is "" or supported, and the same result for
// equivalent headers (case, whitespace around commas).
func checkNegotiation(t *testing.T, name string, fn func(string, []string) string, header, list string) {
	supported := strings.Split(list, "|")
	got := fn(header, supported)
	if got != "" && !slices.Contains(supported, got) {
		t.Fatalf("%s(%q, %q) = %q, not one of supported", name, header, supported, got)
	}
	for _, eq := range []string{upperASCII(header), strings.ReplaceAll(header, ",", " ,\t")} {
		if again := fn(eq, supported); again != got {
			t.Fatalf("%s(%q) = %q but %s(%q) = %q", name, header, got, name, eq, again)
		}
	}
}

func FuzzLanguage(f *testing.F) {
	f.Add("de-DE,de;q=0.9", "en|de|fr")
	f.Add("*, en;q=0", "en|de-AT|fr")
	f.Add("zh-Hant-CN-x-a;q=0.5, fr-CA", "zh-Hant|fr")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, header, list string) {
		checkNegotiation(t, "Language", Language, header, list)
	})
}

func FuzzMediaType(f *testing.F) {
	f.Add("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json|text/html")
	f.Add("application/*;q=0.5, application/json;q=0", "application/json|application/xml; charset=utf-8")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, header, list string) {
		checkNegotiation(t, "MediaType", MediaType, header, list)
	})
}

func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{"Gzip, BR", " a ,\tb ", ",,", "Ünicode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := HeaderValue(v)
		if again := HeaderValue(got); again != got {
			t.Fatalf("HeaderValue(%q) = %q, then %q: not idempotent", v, got, again)
		}
		if !strings.EqualFold(strings.ReplaceAll(strings.ReplaceAll(got, " ", ""), "\t", ""),
			strings.ReplaceAll(strings.ReplaceAll(v, " ", ""), "\t", "")) {
			t.Fatalf("HeaderValue(%q) = %q changed more than case and whitespace", v, got)
		}
	})
}

// FuzzGlobMatch checks globMatch against path.Match, which it follows
// except that '*' and '?' also match '/', and that '*' consumes whole
// characters (path.Match lets "*?" match one 3-byte character, by bytes).
func FuzzGlobMatch(f *testing.F) {
	for _, s := range [][2]string{{"utm_*", "utm_source"}, {"[a-c]?x*", "b1xyz"}, {`\[*`, "[x"}, {"[^a]", "b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		if strings.Contains(name, "/") || strings.Contains(pat, "/") {
			return
		}
		if strings.Contains(pat, "*") && strings.IndexFunc(name, func(r rune) bool { return r >= 0x80 }) >= 0 {
			return
		}
		want, err := path.Match(pat, name)
		if err != nil {
			return
		}
		if got := globMatch(pat, []byte(name)); got != want {
			t.Fatalf("globMatch(%q, %q) = %v, path.Match = %v", pat, name, got, want)
		}
	})
}
