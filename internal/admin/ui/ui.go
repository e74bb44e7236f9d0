// Package ui is moat's admin dashboard: one HTML page, a script, a style
// sheet and an icon, embedded in the binary so that the dashboard works
// with no internet and no build step.
//
// The page is static. It asks the operator for the admin token, or trades
// the one-time code of a login link (/#login=CODE, made by `moat dashboard`)
// for a session token with POST /api/session, keeps the token in the tab's
// sessionStorage, and from then on talks only to the admin JSON API on the
// same origin (GET /api/stats every second, /api/keys, /api/routes,
// /api/inspect, POST /purge and, on sign-out, POST /api/logout), sending
// the token as a bearer token. So Handler serves no secrets and needs no token itself; the admin
// listener must mount it beside the API, outside the token check:
//
//	mux.Handle("GET /{$}", ui.Handler())
//	mux.Handle("GET /assets/", ui.Handler())
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

//go:embed index.html assets
var files embed.FS

// contentTypes is fixed here rather than read from mime.TypeByExtension,
// whose answer depends on the host's /etc/mime.types.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
}

// csp allows the page nothing but its own origin: no inline script, no
// third-party hosts, no framing. It is what makes "works offline" checkable.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

type asset struct {
	body        []byte
	contentType string
	etag        string
	page        bool // an HTML page: gets the CSP and framing headers
}

// Handler serves the dashboard: "/" (and "/index.html") is the page and
// "/assets/..." its files; any other path is 404. Only GET and HEAD are
// allowed. Responses carry a strong ETag and "Cache-Control: no-cache", so
// a browser revalidates and an upgraded moat never serves a stale script.
func Handler() http.Handler {
	assets := map[string]asset{}
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		assets["/"+name] = asset{
			body:        body,
			contentType: contentTypes[path.Ext(name)],
			etag:        `"` + hex.EncodeToString(sum[:8]) + `"`,
			page:        path.Ext(name) == ".html",
		}
		return nil
	})
	if err != nil {
		panic("ui: embedded files: " + err.Error()) // cannot happen: the files are compiled in
	}
	assets["/"] = assets["/index.html"]
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := assets[r.URL.Path]
		if !ok || a.contentType == "" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("ETag", a.etag)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if a.page {
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Frame-Options", "DENY")
		}
		// ServeContent answers If-None-Match with 304 and handles HEAD and
		// Range; the zero modtime leaves Last-Modified out.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	})
}
