package graphql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"
)

// request is a GraphQL request as GraphQL over HTTP defines it: a GET
// with the parameters in the query string, or a POST of
// application/json (or of application/graphql, the query alone).
type request struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName"`
	Variables     map[string]any  `json:"variables"`
	Extensions    map[string]any  `json:"extensions"`
	body          []byte          // the POST body as it came, to forward it unchanged
	batch         bool            // body is a JSON array (a batch)
	hash          string          // extensions.persistedQuery.sha256Hash, lower-case hex
	apqVersion    json.RawMessage // extensions.persistedQuery.version
}

// errRequest is a malformed request: 400, with a GraphQL error body.
var errRequest = errors.New("graphql: bad request")

// errOther is a request moat does not take apart (a batch, another media
// type): forwarded as it came.
var errOther = errors.New("graphql: not a single GraphQL request")

// readRequest parses r. The body, at most max bytes, is kept to forward
// it unchanged.
func readRequest(r *http.Request, max int64) (*request, error) {
	req := &request{}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		req.Query = q.Get("query")
		req.OperationName = q.Get("operationName")
		for name, dst := range map[string]*map[string]any{"variables": &req.Variables, "extensions": &req.Extensions} {
			if s := q.Get(name); s != "" {
				if err := decodeJSON([]byte(s), dst); err != nil {
					return nil, fmt.Errorf("%w: %s is not a JSON object", errRequest, name)
				}
			}
		}
	case http.MethodPost:
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/json" && mt != "" && mt != "application/graphql" {
			return nil, errOther // streamed to the origin as it comes (an upload may be large)
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			return nil, fmt.Errorf("%w: reading the body: %w", errRequest, err)
		}
		if int64(len(body)) > max {
			return nil, fmt.Errorf("%w: body larger than %d bytes", errTooLarge, max)
		}
		req.body = body
		switch mt {
		case "application/json", "":
			if t := bytes.TrimLeft(body, " \t\r\n"); len(t) > 0 && t[0] == '[' {
				req.batch = true
				return req, errOther
			}
			if err := decodeJSON(body, req); err != nil {
				return nil, fmt.Errorf("%w: the body is not a GraphQL request in JSON: %w", errRequest, err)
			}
		case "application/graphql":
			req.Query = string(body)
		}
	default:
		return nil, errOther
	}
	if pq, ok := req.Extensions["persistedQuery"].(map[string]any); ok {
		h, _ := pq["sha256Hash"].(string)
		req.hash = strings.ToLower(h)
		if v, ok := pq["version"].(json.Number); ok {
			req.apqVersion = json.RawMessage(v)
		}
		if !isSHA256(req.hash) {
			return nil, fmt.Errorf("%w: persistedQuery.sha256Hash is not a SHA-256 in hex", errRequest)
		}
	}
	if req.Query == "" && req.hash == "" {
		return nil, fmt.Errorf("%w: no query", errRequest)
	}
	if !utf8.ValidString(req.Query) {
		return nil, fmt.Errorf("%w: the query is not UTF-8", errRequest)
	}
	return req, nil
}

// errTooLarge is a body over the limit: 413.
var errTooLarge = errors.New("graphql: request too large")

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// forwardable returns r with the body readRequest read put back.
func (req *request) forwardable(r *http.Request) *http.Request {
	if req == nil || req.body == nil {
		return r
	}
	out := r.Clone(r.Context())
	out.Body = io.NopCloser(bytes.NewReader(req.body))
	out.ContentLength = int64(len(req.body))
	return out
}

// gqlError is one error of a GraphQL response.
type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// writeErrors answers with a GraphQL response of errors only.
func writeErrors(w http.ResponseWriter, status int, code string, msg string) {
	e := gqlError{Message: msg}
	if code != "" {
		e.Extensions = map[string]any{"code": code}
	}
	body, _ := json.Marshal(map[string]any{"errors": []gqlError{e}})
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
