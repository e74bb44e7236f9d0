package warm

import (
	"strings"
	"testing"
)

func FuzzFromURLFile(f *testing.F) {
	for _, s := range []string{"/a\n# c\n\nhttps://h/x?y#z\n", "http://[::1]:80/%41", "nope", "/a\x00", "http://h/%zz", "//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		paths, err := FromURLFile(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, p := range paths {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n#") {
				t.Fatalf("FromURLFile(%q) gave target %q", in, p)
			}
		}
	})
}

func FuzzFromSitemap(f *testing.F) {
	for _, s := range []string{
		`<urlset><url><loc>http://h/x</loc></url></urlset>`,
		`<sitemapindex><sitemap><loc>http://h/s.xml</loc></sitemap></sitemapindex>`,
		`<urlset><url><loc><![CDATA[http://h/a]]></loc><loc>http://h/b</loc></url></urlset>`,
		`<?xml version="1.0" encoding="ISO-8859-1"?><urlset/>`,
		"\x1f\x8b\x08",
		`<urlset><url><url><loc>http://h/deep</loc></url></url></urlset>`,
		`<a:urlset xmlns:a="x"><a:url><a:loc>http://h/x</a:loc></a:url></a:urlset>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		paths, err := fromSitemap(strings.NewReader(in), 1<<16)
		if err != nil {
			return
		}
		for _, p := range paths {
			if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n#") {
				t.Fatalf("FromSitemap(%q) gave target %q", in, p)
			}
		}
	})
}
