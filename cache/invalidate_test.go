package cache

import (
	"slices"
	"strings"
	"testing"
)

func TestPrefixTags(t *testing.T) {
	p := func(s ...string) []string {
		for i := range s {
			s[i] = prefixTagStart + s[i]
		}
		return s
	}
	if got, want := PrefixTags("/a/b/c?x=/y/"), p("/", "/a/", "/a/b/"); !slices.Equal(got, want) {
		t.Errorf("PrefixTags = %q, want %q", got, want)
	}
	if got := PrefixTags(""); got != nil {
		t.Errorf("PrefixTags(\"\") = %q", got)
	}
	deep := "/" + strings.Repeat("s/", 20) + "leaf"
	tags := PrefixTags(deep)
	if len(tags) != MaxPrefixDepth+1 {
		t.Errorf("PrefixTags of a deep path: %d tags, want %d", len(tags), MaxPrefixDepth+1)
	}
	// Every prefix of a path maps to one of the path's tags, so purging
	// PrefixTag(prefix) reaches it.
	for _, path := range []string{"/a/b/c", "/a/bc", "/", "/a/", deep} {
		pt := PrefixTags(path)
		for i := 1; i <= len(path); i++ {
			if tag := PrefixTag(path[:i]); !slices.Contains(pt, tag) {
				t.Errorf("PrefixTag(%q) = %q, not among PrefixTags(%q) = %q", path[:i], tag, path, pt)
			}
		}
	}
	if got := PrefixTag("/a/b/c"); got != prefixTagStart+"/a/b/" {
		t.Errorf("PrefixTag(/a/b/c) = %q, want the /a/b/ boundary", got)
	}
}

func TestPathOf(t *testing.T) {
	for key, want := range map[string]string{
		"GET http://h/a/b?q=1":            "/a/b?q=1",
		"GET https://h:8/a\x00scope user": "/a",
		"GET http://h":                    "",
		"junk":                            "",
	} {
		if got := PathOf(key); got != want {
			t.Errorf("PathOf(%q) = %q, want %q", key, got, want)
		}
	}
}
