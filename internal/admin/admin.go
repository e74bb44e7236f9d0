// Package admin serves moat's admin listener: health and readiness probes
// (open), the operator API (bearer token on every endpoint: the admin token
// or a dashboard session's token) and the login-link exchange that opens
// such a session (see login.go).
package admin

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/moatproxy/moat/gateway"
)

// Options configure the admin handler.
type Options struct {
	// Token is the bearer token every endpoint but /healthz and /readyz
	// requires. It must not be empty.
	Token string
	// Ready reports readiness for /readyz. If nil, always ready.
	Ready func() bool
	// Stats returns the JSON-encodable value served at /api/stats. If nil,
	// the endpoint answers 404.
	Stats func() any
	// Purge runs a purge for POST /purge. If nil, the endpoint answers 404.
	Purge func(context.Context, gateway.Purge) (gateway.PurgeResult, error)
	// Keys answers GET /api/keys (query: route, limit).
	Keys func(r *http.Request, route string, limit int) any
	// Inspect answers GET /api/inspect for the request it builds from the
	// query (url, repeated header=Name:value).
	Inspect func(*http.Request) any
	// Routes answers GET /api/routes.
	Routes func() any
	// Reload re-reads the configuration for POST /api/reload (moat
	// reload), as SIGHUP does. Its error is the config's problems (the
	// old configuration keeps serving): the answer is 422 with them.
	Reload func(context.Context) (any, error)
	// Metrics serves GET /metrics (Prometheus).
	Metrics http.Handler
	// UI serves the dashboard at / and its assets (no token: the page logs
	// in with the token, or a login link, and sends the token on every API
	// call).
	UI http.Handler
	// Sessions keeps the login codes and dashboard sessions. Pass the same
	// one to every handler that replaces another (config reloads) so that
	// sessions survive them; New ends them all when Token differs from the
	// token of the previous handler. If nil, New makes its own.
	Sessions *Sessions
}

// New returns the admin http.Handler. It panics if o.Token is empty: an
// admin API without authentication is never served.
//
// Every endpoint but the probes, the UI and POST /api/session accepts the
// admin token or a live session token. The login flow adds POST
// /api/login-link (admin token only), POST /api/session (no token: a code
// for a session token) and POST /api/logout.
func New(o Options) http.Handler {
	if o.Token == "" {
		panic("admin: empty token")
	}
	sessions := o.Sessions
	if sessions == nil {
		sessions = NewSessions(SessionsOptions{})
	}
	auth := authenticator{token: sha256.Sum256([]byte(o.Token)), sessions: sessions}
	sessions.bind(auth.token)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if o.Ready != nil && !o.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("POST /api/session", exchangeCode(sessions))
	api := http.NewServeMux()
	api.HandleFunc("POST /api/login-link", loginLink(sessions, auth.token))
	api.HandleFunc("POST /api/logout", logout(sessions))
	if o.Stats != nil {
		api.HandleFunc("GET /api/stats", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, o.Stats())
		})
	}
	if o.Purge != nil {
		api.HandleFunc("POST /purge", func(w http.ResponseWriter, r *http.Request) {
			var p gateway.Purge
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
			dec.DisallowUnknownFields() // a misspelt "tag" must not purge nothing and answer 200
			err := dec.Decode(&p)
			if err == nil && dec.More() {
				err = errors.New("one JSON object only: trailing data after it")
			} else if err == nil {
				if _, terr := dec.Token(); terr != io.EOF {
					err = errors.New("one JSON object only: trailing data after it")
				}
			}
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON purge request: " + err.Error()})
				return
			}
			res, err := o.Purge(r.Context(), p)
			if err != nil {
				status := http.StatusInternalServerError
				switch {
				case errors.Is(err, gateway.ErrBadPurge):
					status = http.StatusBadRequest
				case errors.Is(err, gateway.ErrPurgeNotShared):
					status = http.StatusServiceUnavailable
				}
				writeJSON(w, status, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, res)
		})
	}
	if o.Keys != nil {
		api.HandleFunc("GET /api/keys", func(w http.ResponseWriter, r *http.Request) {
			limit := 20
			if v := r.URL.Query().Get("limit"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 1000 {
					writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a number from 1 to 1000"})
					return
				}
				limit = n
			}
			writeJSON(w, http.StatusOK, o.Keys(r, r.URL.Query().Get("route"), limit))
		})
	}
	if o.Inspect != nil {
		api.HandleFunc("GET /api/inspect", func(w http.ResponseWriter, r *http.Request) {
			req, err := inspectRequest(r)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, o.Inspect(req))
		})
	}
	if o.Routes != nil {
		api.HandleFunc("GET /api/routes", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, o.Routes())
		})
	}
	if o.Reload != nil {
		api.HandleFunc("POST /api/reload", func(w http.ResponseWriter, r *http.Request) {
			res, err := o.Reload(r.Context())
			if err != nil {
				writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"error": err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, res)
		})
	}
	if o.Metrics != nil {
		api.Handle("GET /metrics", o.Metrics)
	}
	protected := auth.wrap(api)
	if o.UI != nil {
		mux.Handle("GET /{$}", o.UI)
		mux.Handle("GET /assets/", o.UI)
	}
	mux.Handle("/", protected)
	return mux
}

// RequireToken wraps h so that requests without "Authorization: Bearer
// <token>" get 401. The comparison takes the same time whatever the
// candidate (hashes of equal length are compared in constant time).
// It admits the admin token only; the handler New returns also admits
// dashboard sessions.
func RequireToken(token string, h http.Handler) http.Handler {
	return authenticator{token: sha256.Sum256([]byte(token))}.wrap(h)
}

// inspectRequest builds the request /api/inspect explains: GET (or
// method=) of url=, with header=Name:value fields.
func inspectRequest(r *http.Request) (*http.Request, error) {
	q := r.URL.Query()
	raw := q.Get("url")
	u, err := url.Parse(raw)
	if raw == "" || err != nil || !u.IsAbs() || u.Host == "" {
		return nil, errors.New("url must be an absolute URL, e.g. url=http://api.example.com/api/products/42")
	}
	method := cmp.Or(q.Get("method"), http.MethodGet)
	req, err := http.NewRequestWithContext(r.Context(), method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.RequestURI = u.RequestURI()
	if u.Scheme == "https" {
		req.TLS = &tls.ConnectionState{}
	}
	for _, h := range q["header"] {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("header %q: want Name: value", h)
		}
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return req, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
