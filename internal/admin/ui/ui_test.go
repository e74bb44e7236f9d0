package ui

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesFiles(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, path, contentType, contains string
	}{
		{"root_is_index", "/", "text/html; charset=utf-8", `<script src="assets/app.js"`},
		{"index_html", "/index.html", "text/html; charset=utf-8", `id="login-token"`},
		{"script", "/assets/app.js", "text/javascript; charset=utf-8", "api/stats"},
		{"style", "/assets/app.css", "text/css; charset=utf-8", "#keys-table"},
		{"icon", "/assets/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, h, http.MethodGet, tt.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d, want 200", tt.path, res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("GET %s: Content-Type %q, want %q", tt.path, got, tt.contentType)
			}
			if got := res.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("GET %s: X-Content-Type-Options %q, want nosniff", tt.path, got)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("GET %s: body does not contain %q", tt.path, tt.contains)
			}
		})
	}
}

func TestHandlerRejects(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, method, path string
		want               int
	}{
		{"unknown_path", http.MethodGet, "/api/stats", http.StatusNotFound},
		{"unknown_asset", http.MethodGet, "/assets/nope.js", http.StatusNotFound},
		{"directory", http.MethodGet, "/assets/", http.StatusNotFound},
		{"traversal", http.MethodGet, "/assets/../ui.go", http.StatusNotFound},
		{"post", http.MethodPost, "/", http.StatusMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := get(t, h, tt.method, tt.path, nil).StatusCode; got != tt.want {
				t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func TestHandlerHeaders(t *testing.T) {
	h := Handler()
	t.Run("page_has_csp", func(t *testing.T) {
		res := get(t, h, http.MethodGet, "/", nil)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
			}
		}
	})
	t.Run("etag_revalidates", func(t *testing.T) {
		res := get(t, h, http.MethodGet, "/assets/app.js", nil)
		etag := res.Header.Get("ETag")
		if etag == "" || res.Header.Get("Cache-Control") != "no-cache" {
			t.Fatalf("ETag %q, Cache-Control %q: want an ETag and no-cache", etag, res.Header.Get("Cache-Control"))
		}
		again := get(t, h, http.MethodGet, "/assets/app.js", http.Header{"If-None-Match": {etag}})
		if again.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match %s: status %d, want 304", etag, again.StatusCode)
		}
	})
	t.Run("head", func(t *testing.T) {
		res := get(t, h, http.MethodHead, "/", nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || len(body) != 0 {
			t.Errorf("HEAD /: status %d with %d body bytes, want 200 and none", res.StatusCode, len(body))
		}
	})
}

// TestAssetsAreLocal keeps the promise that the dashboard works with no
// internet: no file names another host, so none can load from one.
func TestAssetsAreLocal(t *testing.T) {
	absolute := regexp.MustCompile(`(?i)\b(?:https?|wss?|ftp):[^\s"'<>)]*|(?:src|href|action)\s*=\s*["']?//|url\(\s*["']?//|@import`)
	// The SVG namespace is a name, not a fetch.
	allowed := map[string]bool{"http://www.w3.org/2000/svg": true}
	total := 0
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		total += len(body)
		for _, m := range absolute.FindAllString(string(body), -1) {
			if !allowed[m] {
				t.Errorf("%s contains %q: assets must be local", name, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Small enough to read in one sitting and to embed without thought.
	if total > 40<<10 {
		t.Errorf("assets total %d bytes, want at most 40 KiB", total)
	}
}

// TestIndexReferencesExist checks every src= and href= of the page names an
// embedded file, so a renamed asset cannot leave a broken page.
func TestIndexReferencesExist(t *testing.T) {
	h := Handler()
	page, err := files.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(refs) == 0 {
		t.Fatal("index.html references no assets")
	}
	for _, m := range refs {
		ref := m[1]
		if strings.Contains(ref, ":") || strings.HasPrefix(ref, "//") {
			t.Errorf("index.html references %q: only relative, local paths are allowed", ref)
			continue
		}
		if res := get(t, h, http.MethodGet, "/"+strings.TrimPrefix(ref, "/"), nil); res.StatusCode != http.StatusOK {
			t.Errorf("index.html references %q: status %d", ref, res.StatusCode)
		}
	}
}
