package warm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/moatproxy/moat/internal/hotkeys"
)

// MaxSitemapSize bounds the uncompressed size of a sitemap FromSitemap
// reads: the limit of the sitemaps.org protocol, 50 MB.
const MaxSitemapSize = 50 << 20

var (
	// ErrSitemapIndex is wrapped by the error for a sitemap index: warm
	// fetches nothing from the network, so its child sitemaps must be
	// downloaded and passed one by one.
	ErrSitemapIndex = errors.New("a sitemap index")
	// ErrNoHotkeysFile is returned by Load for "hotkeys" when the gateway's
	// hot-keys file is not configured.
	ErrNoHotkeysFile = errors.New("warm: --from hotkeys: no hot-keys file is configured; set it in the config or pass hotkeys:PATH")
)

// A SourceError reports content of a warm-up source that cannot be used.
type SourceError struct {
	File string // the source's file name, set by Load; "" when read from a reader
	Line int    // 1-based; 0 when it does not apply
	Err  error
}

func (e *SourceError) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return fmt.Sprintf("warm: %s:%d: %v", e.File, e.Line, e.Err)
	case e.File != "":
		return fmt.Sprintf("warm: %s: %v", e.File, e.Err)
	case e.Line > 0:
		return fmt.Sprintf("warm: line %d: %v", e.Line, e.Err)
	}
	return "warm: " + e.Err.Error()
}

func (e *SourceError) Unwrap() error { return e.Err }

// FromURLFile reads one URL per line: an absolute http(s) URL, of which the
// path and query are kept (the scheme and host are those of Options.BaseURL
// and Options.Header's Host), or a path starting with "/". Leading and
// trailing space, blank lines and lines starting with # are skipped; a
// fragment is dropped. Any other line is a *SourceError naming the line.
func FromURLFile(r io.Reader) ([]string, error) {
	var paths []string
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		p, err := requestTarget(s)
		if err != nil {
			return nil, &SourceError{Line: line, Err: err}
		}
		paths = append(paths, p)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &SourceError{Line: line + 1, Err: errors.New("line too long")}
		}
		return nil, &SourceError{Err: err}
	}
	return paths, nil
}

// requestTarget returns the path and query of an absolute http(s) URL or of
// a path, as the origin-form request target of RFC 9112 §3.2.1.
func requestTarget(s string) (string, error) {
	if strings.ContainsAny(s, " \t") {
		return "", fmt.Errorf("%q: contains a space (write it as %%20)", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%q: %v", s, errors.Unwrap(err))
	}
	switch {
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/"):
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
	default:
		return "", fmt.Errorf("%q: want an absolute http(s) URL or a path starting with /", s)
	}
	return u.RequestURI(), nil
}

// FromSitemap reads a sitemap (sitemaps.org protocol: <urlset> of <url>
// with <loc>), plain or gzip-compressed, of at most MaxSitemapSize bytes
// uncompressed, and returns the path and query of every <loc>. A sitemap
// index (<sitemapindex>) is an error wrapping ErrSitemapIndex that names its
// child sitemaps: warm does not fetch them. Malformed XML or a <loc> that is
// not an http(s) URL is a *SourceError naming the line.
func FromSitemap(r io.Reader) ([]string, error) {
	return fromSitemap(r, MaxSitemapSize)
}

func fromSitemap(r io.Reader, maxSize int64) ([]string, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &SourceError{Err: fmt.Errorf("gzip: %w", err)}
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	lr := &io.LimitedReader{R: r, N: maxSize + 1}
	d := xml.NewDecoder(lr)

	var (
		stack    []string // local names of the open elements
		root     string
		paths    []string
		children []string // an index's child sitemaps
	)
	for {
		tok, err := d.Token()
		if lr.N <= 0 {
			return nil, &SourceError{Err: fmt.Errorf("sitemap larger than %d bytes", maxSize)}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			var se *xml.SyntaxError
			if errors.As(err, &se) {
				return nil, &SourceError{Line: se.Line, Err: fmt.Errorf("malformed XML: %s", se.Msg)}
			}
			return nil, &SourceError{Err: err}
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			if root == "" {
				root = t.Name.Local
				if root != "urlset" && root != "sitemapindex" {
					return nil, &SourceError{Line: line, Err: fmt.Errorf("root element <%s>; want <urlset> or <sitemapindex>", root)}
				}
			}
			// <loc> directly in <url> (or <sitemap>) directly in the root;
			// extensions such as <image:loc> sit deeper.
			if t.Name.Local == "loc" && len(stack) == 2 && (stack[1] == "url" || stack[1] == "sitemap") {
				var loc string
				if err := d.DecodeElement(&loc, &t); err != nil {
					return nil, &SourceError{Line: line, Err: fmt.Errorf("<loc>: %v", err)}
				}
				loc = strings.TrimSpace(loc)
				if root == "sitemapindex" {
					children = append(children, loc)
					continue
				}
				p, err := requestTarget(loc)
				if err != nil {
					return nil, &SourceError{Line: line, Err: fmt.Errorf("<loc>: %w", err)}
				}
				paths = append(paths, p)
				continue
			}
			stack = append(stack, t.Name.Local)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	switch {
	case root == "":
		return nil, &SourceError{Err: errors.New("empty sitemap: no <urlset> element")}
	case root == "sitemapindex":
		return nil, &SourceError{Err: sitemapIndexError(children)}
	}
	return paths, nil
}

func sitemapIndexError(children []string) error {
	const show = 3
	list := strings.Join(children[:min(len(children), show)], ", ")
	if len(children) > show {
		list += ", ..."
	}
	return fmt.Errorf("%w of %d sitemaps (%s): moat warm fetches nothing from the network; download the child sitemaps and pass each one with --from", ErrSitemapIndex, len(children), list)
}

// FromHotkeys returns the URLs of a hot-keys file written by the gateway
// (hotkeys.Tracker.WriteFile), hottest first. A missing file gives an error
// matching fs.ErrNotExist, which a gateway warming itself at its first
// start may ignore.
func FromHotkeys(path string) ([]string, error) {
	hots, err := hotkeys.ReadFile(path)
	if err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(hots))
	for _, h := range hots {
		if h.URL != "" {
			paths = append(paths, h.URL)
		}
	}
	return paths, nil
}

// Load resolves the --from argument of `moat warm` to request targets, in
// order, without duplicates:
//
//	hotkeys            the gateway's hot-keys file, hotkeysFile (ErrNoHotkeysFile if "")
//	hotkeys:PATH       a hot-keys file
//	sitemap:PATH       a sitemap (see FromSitemap)
//	urls:PATH          a list of URLs (see FromURLFile)
//	PATH               by name: *.xml or *.xml.gz is a sitemap, *.hotkeys or
//	                   *.jsonl a hot-keys file, anything else a list of URLs
//
// Errors about the content are *SourceError values naming the file.
func Load(from, hotkeysFile string) ([]string, error) {
	kind, path := "", from
	if k, p, ok := strings.Cut(from, ":"); ok && (k == "hotkeys" || k == "sitemap" || k == "urls") {
		kind, path = k, p
	}
	switch {
	case from == "":
		return nil, errors.New("warm: no source: pass a URL list, a sitemap or hotkeys")
	case from == "hotkeys":
		if hotkeysFile == "" {
			return nil, ErrNoHotkeysFile
		}
		kind, path = "hotkeys", hotkeysFile
	case kind != "":
	default:
		switch lower := strings.ToLower(path); {
		case strings.HasSuffix(lower, ".xml"), strings.HasSuffix(lower, ".xml.gz"):
			kind = "sitemap"
		case strings.HasSuffix(lower, ".hotkeys"), strings.HasSuffix(lower, ".jsonl"):
			kind = "hotkeys"
		default:
			kind = "urls"
		}
	}
	if path == "" {
		return nil, fmt.Errorf("warm: %q: no file name after %s:", from, kind)
	}

	var paths []string
	var err error
	if kind == "hotkeys" {
		paths, err = FromHotkeys(path) // its errors name the file
	} else {
		paths, err = readSource(path, kind)
	}
	if err != nil {
		return nil, err
	}
	return dedupe(paths), nil
}

func readSource(path, kind string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("warm: %w", err)
	}
	defer f.Close()
	var paths []string
	if kind == "sitemap" {
		paths, err = FromSitemap(f)
	} else {
		paths, err = FromURLFile(f)
	}
	if se, ok := errors.AsType[*SourceError](err); ok {
		se.File = path
	}
	return paths, err
}

func dedupe(paths []string) []string {
	seen := make(map[string]struct{}, len(paths))
	out := paths[:0]
	for _, p := range paths {
		if _, ok := seen[p]; !ok {
			seen[p] = struct{}{}
			out = append(out, p)
		}
	}
	return out
}
