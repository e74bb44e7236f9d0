package graphql

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/policy"
)

// Options configure the GraphQL endpoint of one route.
type Options struct {
	// Schema, if set, is the API's schema: operations are validated against
	// it (an invalid one is forwarded uncached: the origin answers it),
	// fragments are flattened where their type condition always holds,
	// @cacheControl hints are read from it, and the key fields of Keys are
	// added to what the origin is asked so that entities are found.
	Schema *ast.Schema
	// Keys are the fields that identify an entity, by type: {"Book":
	// {"id"}}. Cached root fields are tagged "Book:1" for each entity they
	// hold, and a mutation whose response holds Book:1 purges them (on
	// every node). Types not listed are not entities.
	Keys map[string][]string
	// Hints are cache hints by type ("Book") or field ("Query.books"),
	// replacing the schema's @cacheControl for the same name.
	Hints map[string]Hint
	// DefaultMaxAge is the max age of a root field, and of a composite field,
	// that no hint covers (Apollo's defaultMaxAge). 0: such fields are not
	// cached. The route's ttl.
	DefaultMaxAge time.Duration
	// PrivateScope is who shares a root field holding a private field:
	// policy.ScopeUser (the default) or policy.ScopeTier.
	PrivateScope policy.Scope
	// Invalidate maps a mutation field ("Mutation.createBook") to tags
	// purged when it succeeds, beside the entities in its response:
	// "Query.books" (every cached root field books), "Author:{authorId}"
	// ({name} is the mutation's argument name).
	Invalidate map[string][]string
	// PersistedQueries turns on Apollo's automatic persisted queries: a
	// request may name its query by SHA-256 hash; moat keeps the hash →
	// query map in its tiers (shared with L2) for PersistedQueryTTL.
	PersistedQueries bool
	// PersistedQueryTTL is how long a registered query is kept. Default 24h.
	PersistedQueryTTL time.Duration
	// Safelist, if not nil, is the only operations allowed, by the SHA-256
	// (hex) of their text: others are refused with 400 and a GraphQL error
	// (PERSISTED_QUERY_NOT_IN_LIST); a request may send the hash alone.
	// Automatic registration is off with a safelist.
	Safelist map[string]string
	// MaxBody bounds a request body. Default 1 MiB.
	MaxBody int64
	// MaxResponse bounds a mutation's response moat reads to find the
	// entities it changed. Default 16 MiB.
	MaxResponse int64
	// Observer, if set, is told of every operation (metrics).
	Observer Observer
	// Logger receives what cannot be answered to a client. Default
	// slog.Default().
	Logger *slog.Logger
}

// Observer receives one event per GraphQL operation served. Implementations
// must be safe for concurrent use and quick.
type Observer interface {
	// Operation is called after an operation was answered: its name
	// (bounded: the first MaxOperationNames distinct names, then
	// "other"; "" for anonymous ones), its kind (query, mutation,
	// subscription, or "forwarded" for what moat did not take apart), how
	// it was answered, and how many of its root fields came from the cache.
	Operation(name, kind string, result gateway.Result, fields, cached int)
}

// MaxOperationNames bounds the distinct operation names an Observer hears.
const MaxOperationNames = 200

// New returns the gateway.NewExtension of a GraphQL endpoint configured by
// o, for gateway.Options.Extensions.
func New(o Options) gateway.NewExtension {
	return func(sub *gateway.Subrequests, pol *policy.Policy) (gateway.Extension, error) {
		if o.PrivateScope == policy.ScopePublic {
			o.PrivateScope = policy.ScopeUser
		}
		if o.PersistedQueryTTL <= 0 {
			o.PersistedQueryTTL = 24 * time.Hour
		}
		if o.MaxBody <= 0 {
			o.MaxBody = 1 << 20
		}
		if o.MaxResponse <= 0 {
			o.MaxResponse = 16 << 20
		}
		if o.Logger == nil {
			o.Logger = slog.Default()
		}
		for name, ks := range o.Keys {
			if len(ks) == 0 {
				return nil, fmt.Errorf("graphql: keys of %s: no fields", name)
			}
		}
		return &Handler{o: o, sub: sub, pol: pol, docs: newDocuments(),
			hints: &hinter{schema: o.Schema, cfg: o.Hints, def: o.DefaultMaxAge}}, nil
	}
}

// Handler serves a GraphQL endpoint (see the package comment).
type Handler struct {
	o     Options
	sub   *gateway.Subrequests
	pol   *policy.Policy
	hints *hinter
	docs  *otter.Cache[string, *document]
	names sync.Map // operation names the Observer knows
	nameN int
	nameM sync.Mutex
}

var _ gateway.Extension = (*Handler)(nil)

// ServeHTTP answers a client's GraphQL request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, err := readRequest(r, h.o.MaxBody)
	switch {
	case errors.Is(err, errOther):
		// A batch, a multipart upload, another media type: moat does not
		// take it apart. A POST that may hold a mutation purges the
		// route's fields when it succeeds.
		if r.Method == http.MethodPost && mayMutate(req) {
			h.forwardPurging(w, r, req, "graphql-other", "")
		} else {
			h.forward(w, r, req, "graphql-other", "")
		}
		return
	case errors.Is(err, errTooLarge):
		writeErrors(w, http.StatusRequestEntityTooLarge, "BAD_REQUEST", err.Error())
		return
	case err != nil:
		writeErrors(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
		return
	}
	if !h.resolvePersisted(w, r, req) {
		return
	}
	d := h.document(req.Query)
	switch {
	case d.tokenLimit:
		// Too large for moat to tell what it does: refused, as a request
		// moat will not forward blind.
		writeErrors(w, http.StatusRequestEntityTooLarge, "BAD_REQUEST", fmt.Sprintf("operation larger than %d tokens", maxTokens))
		return
	case d.parseError:
		h.forward(w, r, req, "graphql-parse-error", "") // the origin cannot run it either
		return
	case d.tooComplex:
		// Fragments that expand exponentially cost whoever expands them:
		// refused before moat or the origin does.
		writeErrors(w, http.StatusBadRequest, "GRAPHQL_VALIDATION_FAILED", fmt.Sprintf("operation too complex (more than %d selections expanded, or nested deeper than %d)", maxVisits, maxDepth))
		h.observe("", "refused", gateway.ResultBypass, 0, 0)
		return
	case d.reserved != "":
		writeErrors(w, http.StatusBadRequest, "GRAPHQL_VALIDATION_FAILED", "the alias "+d.reserved+" is reserved by moat (moat__ prefix)")
		return
	case d.invalid:
		// The origin's schema may be newer than moat's: it decides.
		if d.mutation && r.Method == http.MethodPost {
			h.forwardPurging(w, r, req, "graphql-invalid", "")
		} else {
			h.forward(w, r, req, "graphql-invalid", "")
		}
		return
	}
	doc := d.doc
	if d.mutation {
		doc = h.parseFresh(req.Query).doc // mutate changes it: a copy of its own
	}
	opDef, err := selectOperation(doc, req.OperationName)
	if err != nil {
		h.forward(w, r, req, "graphql-operation", "")
		return
	}

	switch opDef.Operation {
	case ast.Mutation:
		h.mutate(w, r, req, doc, opDef)
		return
	case ast.Subscription:
		h.forward(w, r, req, "graphql-subscription", string(ast.Subscription))
		return
	}
	op, err := normalize(doc, opDef, h.o.Schema, h.o.Keys, req.Variables)
	if errors.Is(err, errTooComplex) {
		writeErrors(w, http.StatusBadRequest, "GRAPHQL_VALIDATION_FAILED", fmt.Sprintf("operation too complex (more than %d selections expanded, or nested deeper than %d)", maxVisits, maxDepth))
		h.observe("", "refused", gateway.ResultBypass, 0, 0)
		return
	}
	if err != nil {
		h.forward(w, r, req, "graphql-uncacheable", opDef.Name)
		return
	}
	h.query(w, r, req, op)
}

// expandsWithin reports whether ss, its fragments expanded where they are
// spread, holds at most *budget selections and maxDepth levels.
func expandsWithin(doc *ast.QueryDocument, ss ast.SelectionSet, budget *int, depth int) bool {
	if depth > maxDepth {
		return false
	}
	for _, sel := range ss {
		if *budget--; *budget < 0 {
			return false
		}
		var inner ast.SelectionSet
		switch s := sel.(type) {
		case *ast.Field:
			inner = s.SelectionSet
		case *ast.InlineFragment:
			inner = s.SelectionSet
		case *ast.FragmentSpread:
			if def := doc.Fragments.ForName(s.Name); def != nil {
				inner = def.SelectionSet
			}
		}
		if len(inner) > 0 && !expandsWithin(doc, inner, budget, depth+1) {
			return false
		}
	}
	return true
}

// maxTokens bounds the tokens of an operation moat parses.
const maxTokens = 15000

// reservedAlias returns the first alias of doc that moat's own fields use
// ("moat__…"), except a fragment marker on __typename (moat's printed
// queries hold them, and warm-ups replay those).
func reservedAlias(doc *ast.QueryDocument) string {
	bad := ""
	walkFields(doc, func(f *ast.Field) {
		if bad == "" && strings.HasPrefix(f.Alias, injectedPrefix) && !(f.Name == "__typename" && strings.HasPrefix(f.Alias, markerPrefix)) {
			bad = f.Alias
		}
	})
	return bad
}

// hasMutation reports whether doc defines a mutation.
func hasMutation(doc *ast.QueryDocument) bool {
	for _, op := range doc.Operations {
		if op.Operation == ast.Mutation {
			return true
		}
	}
	return false
}

// mayMutate reports whether a request moat does not take apart may hold a
// mutation: a batch with one (or with an element moat cannot read), or
// anything that is not a batch (a multipart upload is a mutation).
func mayMutate(req *request) bool {
	if req == nil || len(req.body) == 0 || !req.batch {
		return true
	}
	var batch []request
	if err := decodeJSON(req.body, &batch); err != nil {
		return false // the origin cannot run it either
	}
	for _, e := range batch {
		doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: e.Query}, maxTokens)
		if err != nil {
			if strings.Contains(err.Error(), "token limit") {
				return true
			}
			continue // this element does nothing
		}
		if hasMutation(doc) {
			return true
		}
	}
	return false
}

// forwardPurging forwards the request as forward does and, when the
// origin answers 2xx, purges every field of the route before the client
// hears the answer: a write moat cannot take apart changes what it
// cannot name.
func (h *Handler) forwardPurging(w http.ResponseWriter, r *http.Request, req *request, detail, name string) {
	pw := &purgingWriter{ResponseWriter: w, purge: func() { h.purgeRoute(r, name) }}
	h.forward(pw, r, req, detail, name)
}

// purgeRoute purges every entry of the route (a namespace version: O(1)).
func (h *Handler) purgeRoute(r *http.Request, name string) {
	if _, err := h.sub.Purge(r.Context(), gateway.Purge{Routes: []string{h.pol.Pattern}}); err != nil {
		h.o.Logger.Error("graphql: route purge after a write failed", "operation", name, "err", err)
	}
}

// purgingWriter calls purge when a 2xx header is about to be written.
type purgingWriter struct {
	http.ResponseWriter
	purge func()
	done  bool
}

func (p *purgingWriter) WriteHeader(code int) {
	if !p.done && code >= 200 {
		p.done = true
		if code < 300 {
			p.purge()
		}
	}
	p.ResponseWriter.WriteHeader(code)
}

func (p *purgingWriter) Write(b []byte) (int, error) {
	if !p.done {
		p.WriteHeader(http.StatusOK)
	}
	return p.ResponseWriter.Write(b)
}

func (p *purgingWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

// forward sends the client's request to the origin as it came, uncached.
func (h *Handler) forward(w http.ResponseWriter, r *http.Request, req *request, detail, name string) {
	h.sub.Forward(w, req.forwardable(r), detail)
	h.sub.SetResult(r.Context(), gateway.ResultBypass)
	h.observe(name, "forwarded", gateway.ResultBypass, 0, 0)
}

func (h *Handler) observe(name, kind string, res gateway.Result, fields, cached int) {
	if h.o.Observer == nil {
		return
	}
	h.o.Observer.Operation(h.boundedName(name), kind, res, fields, cached)
}

// boundedName is name if it is one of the first MaxOperationNames names
// seen, else "other": an attacker's names do not grow the metrics.
func (h *Handler) boundedName(name string) string {
	if name == "" {
		return ""
	}
	if _, ok := h.names.Load(name); ok {
		return name
	}
	h.nameM.Lock()
	defer h.nameM.Unlock()
	if _, ok := h.names.Load(name); ok {
		return name
	}
	if h.nameN >= MaxOperationNames || len(name) > 128 {
		return "other"
	}
	h.nameN++
	h.names.Store(name, true)
	return name
}

// apqPath is the subrequest path of a persisted query's entry.
const apqParam = "moat-apq"

// resolvePersisted resolves req's persisted query (by hash, from the
// safelist or the tiers), registers one sent with its query, and enforces
// the safelist. It answers the client itself (and reports false) when the
// request ends here.
func (h *Handler) resolvePersisted(w http.ResponseWriter, r *http.Request, req *request) bool {
	if req.hash != "" && h.o.Safelist == nil && !h.o.PersistedQueries {
		writeErrors(w, http.StatusOK, "PERSISTED_QUERY_NOT_SUPPORTED", "PersistedQueryNotSupported")
		return false
	}
	if req.Query != "" && req.hash != "" {
		sum := sha256.Sum256([]byte(req.Query))
		if hex.EncodeToString(sum[:]) != req.hash {
			writeErrors(w, http.StatusBadRequest, "BAD_REQUEST", "provided sha does not match query")
			return false
		}
	}
	if h.o.Safelist != nil {
		hash := req.hash
		if hash == "" {
			sum := sha256.Sum256([]byte(req.Query))
			hash = hex.EncodeToString(sum[:])
		}
		q, ok := h.o.Safelist[hash]
		if !ok {
			writeErrors(w, http.StatusBadRequest, "PERSISTED_QUERY_NOT_IN_LIST", "operation not in the safelist")
			h.observe("", "refused", gateway.ResultBypass, 0, 0)
			return false
		}
		req.Query = q
		return true
	}
	if req.hash == "" {
		return true
	}
	if req.Query != "" {
		h.registerPersisted(r, req.hash, req.Query)
		return true
	}
	q, ok := h.lookupPersisted(r, req.hash)
	if !ok {
		writeErrors(w, http.StatusOK, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
		h.observe("", "persisted-miss", gateway.ResultMiss, 0, 0)
		return false
	}
	req.Query = q
	return true
}

type apqKey struct{}

// apqRequest is the subrequest that stands for the persisted query hash:
// public, without the client's credentials (the hash names the query for
// everyone).
func apqRequest(r *http.Request, hash string, ctx context.Context) *http.Request {
	u := url.URL{Path: r.URL.Path, RawQuery: apqParam + "=" + hash}
	sr, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	sr.Host = r.Host
	sr.TLS = r.TLS
	sr.RemoteAddr = r.RemoteAddr
	return sr
}

func (h *Handler) registerPersisted(r *http.Request, hash, query string) {
	ctx := context.WithValue(context.WithoutCancel(r.Context()), apqKey{}, query)
	rec := newRecorder(int64(len(query)) + 1024)
	h.sub.Serve(rec, h.sub.Untracked(apqRequest(r, hash, ctx)), policy.ScopePublic, nil)
}

func (h *Handler) lookupPersisted(r *http.Request, hash string) (string, bool) {
	sr := apqRequest(r, hash, r.Context())
	sr.Header.Set("Cache-Control", "only-if-cached")
	rec := newRecorder(h.o.MaxBody)
	h.sub.Serve(rec, h.sub.Untracked(sr), policy.ScopePublic, nil)
	if rec.status != http.StatusOK || rec.overflow {
		return "", false
	}
	q := rec.body.String()
	sum := sha256.Sum256([]byte(q))
	return q, hex.EncodeToString(sum[:]) == hash
}

// RoundTrip makes the origin requests of the subrequests' fills: a
// persisted query's entry is answered from the query being registered, a
// root field's fill joins its client request's batch (one origin request
// for every field of one client request that missed), or goes alone (a
// background refresh).
func (h *Handler) RoundTrip(out *http.Request, next http.RoundTripper) (*http.Response, error) {
	ctx := out.Context()
	if q, ok := ctx.Value(apqKey{}).(string); ok {
		return stored(out, []byte(q), fmt.Sprintf("public, max-age=%d", int(h.o.PersistedQueryTTL/time.Second)), nil), nil
	}
	fc, _ := ctx.Value(fieldCallKey{}).(*fieldCall)
	if fc == nil {
		// A fill with nothing to say what to ask (a persisted query's
		// entry being refreshed after its registration was lost): not
		// stored.
		return stored(out, nil, "no-store", nil), nil
	}
	return fc.batch.roundTrip(h, fc, out, next)
}

// recorder is an http.ResponseWriter that keeps a subrequest's answer,
// its body up to a limit.
type recorder struct {
	hdr      http.Header
	status   int
	body     strings.Builder
	limit    int64
	overflow bool
}

func newRecorder(limit int64) *recorder { return &recorder{hdr: http.Header{}, limit: limit} }

func (r *recorder) Header() http.Header { return r.hdr }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if int64(r.body.Len()+len(p)) > r.limit {
		r.overflow = true
		return len(p), nil
	}
	return r.body.Write(p)
}
