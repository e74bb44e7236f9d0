package warm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/hotkeys"
)

func TestFromURLFile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		errLine int    // 0: no error
		errText string // in the error
	}{
		{name: "paths", in: "/a\n/b?x=1&y=2\n", want: []string{"/a", "/b?x=1&y=2"}},
		{name: "absolute_urls", in: "https://api.example.com/v1/items?page=2#top\nhttp://h:8080\nhttp://h/a%2Fb?q=%20\n",
			want: []string{"/v1/items?page=2", "/", "/a%2Fb?q=%20"}},
		{name: "comments_blanks_spaces", in: "# warm these\n\n   /a  \r\n\t# indented comment\n/b\n", want: []string{"/a", "/b"}},
		{name: "crlf", in: "/a\r\n/b\r\n", want: []string{"/a", "/b"}},
		{name: "empty", in: "", want: nil},
		{name: "duplicates_kept", in: "/a\n/a\n", want: []string{"/a", "/a"}},
		{name: "relative", in: "/ok\nitems/1\n", errLine: 2, errText: "want an absolute http(s) URL or a path"},
		{name: "other_scheme", in: "ftp://h/x\n", errLine: 1, errText: "want an absolute http(s) URL"},
		{name: "no_host", in: "http:///x\n", errLine: 1, errText: "want an absolute"},
		{name: "network_path", in: "//h/x\n", errLine: 1, errText: "want an absolute"},
		{name: "log_line", in: "\n\nGET /a HTTP/1.1\n", errLine: 3, errText: "contains a space"},
		{name: "control_char", in: "/a\x7f\n", errLine: 1, errText: "invalid control character"},
		{name: "bad_escape", in: "http://h/%zz\n", errLine: 1, errText: "invalid URL escape"},
		{name: "too_long", in: "/a\n/" + strings.Repeat("x", 70_000) + "\n", errLine: 2, errText: "line too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromURLFile(strings.NewReader(tt.in))
			if tt.errLine == 0 {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Errorf("FromURLFile = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			se, ok := errors.AsType[*SourceError](err)
			if !ok || se.Line != tt.errLine || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("FromURLFile error = %v; want a SourceError at line %d containing %q", err, tt.errLine, tt.errText)
			}
		})
	}
}

const sitemapNS = `xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"`

func TestFromSitemap(t *testing.T) {
	urlset := `<?xml version="1.0" encoding="UTF-8"?>
<urlset ` + sitemapNS + ` xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url><loc>https://www.example.com/</loc><lastmod>2026-01-01</lastmod></url>
  <url>
    <loc>
      https://www.example.com/products?id=1&amp;color=red
    </loc>
    <image:image><image:loc>https://cdn.example.com/p1.jpg</image:loc></image:image>
  </url>
  <url><loc><![CDATA[https://www.example.com/a b]]></loc></url>
</urlset>`
	tests := []struct {
		name     string
		in       string
		want     []string
		errLine  int
		errText  string
		sentinel error
	}{
		{name: "urlset_without_namespace", in: `<urlset><url><loc>http://h/x</loc></url></urlset>`, want: []string{"/x"}},
		{name: "urlset", in: strings.Replace(urlset, "a b", "a%20b", 1),
			want: []string{"/", "/products?id=1&color=red", "/a%20b"}},
		{name: "bad_loc", in: urlset, errLine: 10, errText: "contains a space"},
		{name: "relative_loc", in: "<urlset>\n<url>\n<loc>/x</loc></url></urlset>", want: []string{"/x"}},
		{name: "index", in: `<?xml version="1.0"?>
<sitemapindex ` + sitemapNS + `>
  <sitemap><loc>https://www.example.com/sitemap-1.xml</loc></sitemap>
  <sitemap><loc>https://www.example.com/sitemap-2.xml</loc></sitemap>
  <sitemap><loc>https://www.example.com/sitemap-3.xml</loc></sitemap>
  <sitemap><loc>https://www.example.com/sitemap-4.xml</loc></sitemap>
</sitemapindex>`, sentinel: ErrSitemapIndex, errText: "index of 4 sitemaps (https://www.example.com/sitemap-1.xml, https://www.example.com/sitemap-2.xml, https://www.example.com/sitemap-3.xml, ...): moat warm fetches nothing"},
		{name: "unclosed", in: "<urlset>\n<url><loc>http://h/x</loc>\n</urlset>", errLine: 3, errText: "malformed XML"},
		{name: "truncated", in: "<urlset>\n<url><loc>http://h/x</loc></url>\n", errLine: 3, errText: "malformed XML"},
		{name: "not_xml", in: "/a\n/b\n", errText: "empty sitemap"},
		{name: "html", in: "<html><body>hi</body></html>", errLine: 1, errText: "root element <html>"},
		{name: "empty", in: "", errText: "empty sitemap"},
		{name: "empty_urlset", in: "<urlset/>", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromSitemap(strings.NewReader(tt.in))
			if tt.errText == "" {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Errorf("FromSitemap = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			se, ok := errors.AsType[*SourceError](err)
			if !ok || se.Line != tt.errLine || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("FromSitemap error = %v; want a SourceError at line %d containing %q", err, tt.errLine, tt.errText)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v does not wrap %v", err, tt.sentinel)
			}
		})
	}

	t.Run("gzip", func(t *testing.T) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		io.WriteString(zw, `<urlset><url><loc>http://h/x</loc></url></urlset>`)
		zw.Close()
		got, err := FromSitemap(&buf)
		if err != nil || !slices.Equal(got, []string{"/x"}) {
			t.Errorf("FromSitemap(gzip) = %q, %v", got, err)
		}
	})

	t.Run("too_large", func(t *testing.T) {
		endless := io.MultiReader(strings.NewReader("<urlset>"), repeatReader("<url><loc>http://h/x</loc></url>\n"))
		_, err := fromSitemap(endless, 1<<20)
		if err == nil || !strings.Contains(err.Error(), "larger than 1048576 bytes") {
			t.Errorf("endless sitemap: err = %v, want a size error", err)
		}
	})
}

// repeatReader repeats s forever.
func repeatReader(s string) io.Reader {
	return &repeater{s: s}
}

type repeater struct {
	s   string
	off int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	urls := write("urls.txt", "/a\n/b\n/a\n")
	sitemap := write("sitemap.xml", `<urlset><url><loc>http://h/s</loc></url></urlset>`)
	sitemapNoExt := write("map", `<urlset><url><loc>http://h/s</loc></url></urlset>`)
	urlsXMLName := write("list.xml.txt", "/x\n")
	bad := write("bad.txt", "/a\nnope\n")

	clk := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	tr := hotkeys.New(hotkeys.Options{Now: func() time.Time { return clk }})
	tr.Observe("k1", "/hot1")
	tr.Observe("k2", "/hot2")
	tr.Observe("k2", "/hot2")
	hot := filepath.Join(dir, "moat.hotkeys")
	if err := tr.WriteFile(hot, 10); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		from, hotkeysFile string
		want              []string
		errText           string
	}{
		{from: urls, want: []string{"/a", "/b"}},
		{from: "urls:" + urls, want: []string{"/a", "/b"}},
		{from: sitemap, want: []string{"/s"}},
		{from: "sitemap:" + sitemapNoExt, want: []string{"/s"}},
		{from: urlsXMLName, want: []string{"/x"}},
		{from: hot, want: []string{"/hot2", "/hot1"}},
		{from: "hotkeys:" + hot, want: []string{"/hot2", "/hot1"}},
		{from: "hotkeys", hotkeysFile: hot, want: []string{"/hot2", "/hot1"}},
		{from: "hotkeys", errText: "no hot-keys file is configured"},
		{from: "hotkeys:" + urls, errText: "malformed hot-keys file"},
		{from: "", errText: "no source"},
		{from: "urls:", errText: "no file name"},
		{from: bad, errText: bad + ":2: \"nope\""},
		{from: "sitemap:" + urls, errText: urls + ": empty sitemap"},
		{from: filepath.Join(dir, "missing.txt"), errText: "no such file"},
	}
	for _, tt := range tests {
		t.Run(strings.TrimPrefix(tt.from, dir+"/"), func(t *testing.T) {
			got, err := Load(tt.from, tt.hotkeysFile)
			if tt.errText == "" {
				if err != nil || !slices.Equal(got, tt.want) {
					t.Errorf("Load(%q) = %q, %v; want %q", tt.from, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("Load(%q) error = %v; want one containing %q", tt.from, err, tt.errText)
			}
		})
	}

	t.Run("missing_hotkeys_file", func(t *testing.T) {
		_, err := Load("hotkeys", filepath.Join(dir, "never-written.hotkeys"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist (a first start)", err)
		}
	})
}
