package gqltest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"

	"github.com/vektah/gqlparser/v2/ast"
)

// maxBodyBytes bounds a POST body.
const maxBodyBytes = 1 << 20

// params are the GraphQL request parameters, from whichever encoding.
type params struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName"`
	Variables     map[string]any `json:"variables"`
	Extensions    map[string]any `json:"extensions"`
}

// requestError is a request the server refuses before executing it: it is
// answered with status and a GraphQL error body.
type requestError struct {
	status  int
	allow   string // the Allow header of a 405
	message string
}

// serveHTTP serves the GraphQL endpoint in the order the package comment
// gives: decode, record, hold, fail, execute.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p, reqErr := decode(w, r)
	op, parsed := parseOperation(p.Query, p.OperationName)
	gate := s.record(Request{
		Method:        r.Method,
		Header:        r.Header.Clone(),
		Query:         p.Query,
		OperationName: p.OperationName,
		Variables:     p.Variables,
		Extensions:    p.Extensions,
		RootFields:    op.rootFields,
	})
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return // the client is gone: nobody to answer
		case <-s.closing:
			writeText(w, http.StatusServiceUnavailable, "gqltest: server closed while the request was held")
			return
		}
	}
	if status := s.failure(); status != 0 {
		writeText(w, status, fmt.Sprintf("gqltest: failing on purpose with status %d", status))
		return
	}
	if reqErr != nil {
		if reqErr.allow != "" {
			w.Header().Set("Allow", reqErr.allow)
		}
		writeErrors(w, reqErr.status, reqErr.message)
		return
	}
	// GraphQL over HTTP: GET must not change state, so only queries run.
	if r.Method == http.MethodGet && parsed && op.kind != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		writeErrors(w, http.StatusMethodNotAllowed, fmt.Sprintf("a %s cannot be sent with GET: use POST", op.kind))
		return
	}
	ctx := r.Context()
	if name := r.Header.Get("X-User"); name != "" {
		tier := r.Header.Get("X-Tier")
		if tier == "" {
			tier = "free"
		}
		ctx = withViewer(ctx, &viewer{name: name, tier: tier})
	}
	// Exec fills in the operation's variable defaults in the map it is
	// given: hand it a copy, the recorded one may be read concurrently.
	resp := s.schema.Exec(ctx, p.Query, p.OperationName, maps.Clone(p.Variables))
	writeJSON(w, http.StatusOK, resp)
}

// decode reads the GraphQL parameters of r: POST application/json (an object;
// a batch array is refused), POST application/graphql (the body is the
// query), or GET with query, operationName, variables and extensions in the
// URL, the last two as JSON. What was read is returned even on error, so that
// it is recorded.
func decode(w http.ResponseWriter, r *http.Request) (params, *requestError) {
	var p params
	switch r.Method {
	case http.MethodGet:
		q := r.URL.Query()
		p.Query = q.Get("query")
		p.OperationName = q.Get("operationName")
		for name, dst := range map[string]*map[string]any{"variables": &p.Variables, "extensions": &p.Extensions} {
			if v := q.Get(name); v != "" {
				if err := json.Unmarshal([]byte(v), dst); err != nil {
					return p, &requestError{status: http.StatusBadRequest, message: fmt.Sprintf("%s is not a JSON object: %v", name, err)}
				}
			}
		}
	case http.MethodPost:
		mediaType, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || (mediaType != "application/json" && mediaType != "application/graphql") {
			return p, &requestError{status: http.StatusUnsupportedMediaType, message: fmt.Sprintf("content type %q: send application/json or application/graphql", r.Header.Get("Content-Type"))}
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
		if err != nil {
			return p, &requestError{status: http.StatusBadRequest, message: fmt.Sprintf("read body: %v", err)}
		}
		if mediaType == "application/graphql" {
			p.Query = string(body)
			break
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '[' {
			return p, &requestError{status: http.StatusBadRequest, message: "batched requests (a JSON array) are not supported"}
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return p, &requestError{status: http.StatusBadRequest, message: fmt.Sprintf("body is not a GraphQL request object: %v", err)}
		}
	default:
		return p, &requestError{status: http.StatusMethodNotAllowed, allow: "GET, POST", message: fmt.Sprintf("method %s: use GET or POST", r.Method)}
	}
	if p.Query == "" {
		return p, &requestError{status: http.StatusBadRequest, message: "missing query"}
	}
	return p, nil
}

// writeErrors answers a GraphQL response carrying only errors.
func writeErrors(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"message": message}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeText(w, http.StatusInternalServerError, fmt.Sprintf("gqltest: encode response: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that hung up is no error of the origin's
}

// writeText answers a plain-text body that is not GraphQL.
func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text+"\n")
}
