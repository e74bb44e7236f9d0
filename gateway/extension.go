package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/moatproxy/moat/policy"
)

// An Extension serves the client requests of one route in place of the
// proxy, and answers them from the Handler's cache through subrequests:
// package graphql splits a GraphQL operation into one subrequest per root
// field, each an ordinary cache entry with the engine's coalescing, stale
// serving, tags, purges and L2, and merges their answers.
//
// The Handler calls ServeHTTP with the canonical request (normalized path
// and host) of a client of the route; RoundTrip makes the origin request of
// the fills of the extension's subrequests, so that the extension decides
// what the origin is asked (several subrequests' fills may become one
// origin request).
type Extension interface {
	http.Handler
	// RoundTrip makes the origin request of a subrequest's fill (or of a
	// subrequest that bypasses the cache, e.g. one whose scope has no
	// verified user): it takes no origin slot of its own (see
	// Subrequests.Acquire). out is
	// ready for the origin (URL, X-Forwarded-*, headers stripped); next
	// reaches the origin. out's context carries what the subrequest's
	// context carried.
	RoundTrip(out *http.Request, next http.RoundTripper) (*http.Response, error)
}

// NewExtension builds the Extension of the route pol, which reaches the
// Handler through sub. It runs inside New, before the Handler serves: sub
// must not be used for subrequests until New has returned.
type NewExtension func(sub *Subrequests, pol *policy.Policy) (Extension, error)

// Subrequests is what an Extension may do with the Handler: requests of its
// route through the cache under a scope of its choice, uncached forwards,
// purges.
type Subrequests struct {
	h        *Handler
	route    *policy.Policy
	variants [3]*policy.Policy // by policy.Scope
}

// ErrExtension is wrapped by New's errors about Options.Extensions.
var ErrExtension = errors.New("gateway: extension")

// buildExtensions makes the extensions of o in New, while the handler is
// not yet shared: the variants' namespaces and limits are registered in
// maps that are read without a lock afterwards.
func (h *Handler) buildExtensions(exts map[string]NewExtension) error {
	if len(exts) == 0 {
		return nil
	}
	h.exts = map[*policy.Policy]Extension{}
	for pattern, build := range exts {
		pol := h.policyByPattern(pattern)
		if pol == nil {
			return fmt.Errorf("%w: no route %q", ErrExtension, pattern)
		}
		sub := &Subrequests{h: h, route: pol}
		for scope := range sub.variants {
			v := *pol
			v.Scope = policy.Scope(scope)
			v.Params = nil // the extension's own query parameters are its key
			v.Bypass = false
			v.Invalidate = nil
			// The extension's answers carry their own freshness, which
			// the route's ttl must not replace.
			v.TTL, v.OverrideOrigin = 0, false
			if v.Scope != policy.ScopePublic {
				v.AllowCredentials = false
			}
			sub.variants[scope] = &v
			h.registerVariant(&v, pol)
		}
		ext, err := build(sub, pol)
		if err != nil {
			return fmt.Errorf("%w: route %q: %w", ErrExtension, pattern, err)
		}
		h.exts[pol] = ext
		if h.extVariants == nil {
			h.extVariants = map[*policy.Policy]Extension{}
		}
		for _, v := range sub.variants {
			h.extVariants[v] = ext
		}
	}
	return nil
}

// registerVariant makes v the same route as base for namespace versions
// (a route purge of base reaches v's entries), origin limits and
// downstream headers.
func (h *Handler) registerVariant(v, base *policy.Policy) {
	h.ns.mu.Lock()
	h.ns.routes[v] = h.ns.routes[base]
	h.ns.suffixes[v] = h.ns.suffixes[base]
	h.ns.fps[v] = h.ns.fps[base]
	h.ns.mu.Unlock()
	if l := h.limits.routes[base]; l != nil {
		h.limits.routes[v] = l
	}
	if d := h.downstream[base]; d != nil {
		h.downstream[v] = d
	}
	if f := h.downstreamFields[base]; f != nil {
		h.downstreamFields[v] = f
	}
}

type outcomeKey struct{}

// Route returns the extension's route.
func (s *Subrequests) Route() *policy.Policy { return s.route }

// Serve answers r, a request of the route (typically a synthetic GET whose
// URL names the part of the client's request it stands for), through the
// cache, keyed under scope as a route of that scope would be: the
// extension decides who may share each part. r is canonicalized as a
// client request would be. waiting, if not nil, is called when the
// subrequest starts waiting for another request's fill (on this node or,
// with a lease, on another), so that an extension batching its fills does
// not wait for a fill it will not make. Serve returns how r was answered;
// it reports nothing to the Observer (the client request is reported
// once, see SetResult).
//
// WARNING: r's headers are the client's: credentials in them decide the
// scope as they would for the client. An extension that copies a client's
// request must copy its credentials too, or a private part is keyed as
// public.
func (s *Subrequests) Serve(w http.ResponseWriter, r *http.Request, scope policy.Scope, waiting func()) Result {
	h := s.h
	r, refused := h.canonical(r)
	if waiting != nil {
		r = r.WithContext(context.WithValue(r.Context(), waitingKey{}, waiting))
	}
	var o outcome
	h.serve(w, r, s.variants[scope], refused, &o)
	return o.result
}

// Acquire takes a slot of the origin concurrency limits (the route's and
// the global one) for one origin request of the extension: its
// subrequests' fills take none, since the extension may make one origin
// request of several of them. release must be called when ok. background
// requests (refreshes) give up at once when the limits are reached.
func (s *Subrequests) Acquire(ctx context.Context, background bool) (release func(), ok bool) {
	return s.h.limits.acquire(ctx, s.route, background)
}

// Forward sends r to the origin uncached (Cache-Status fwd=bypass with
// detail), as the proxy forwards a request it does not cache; unsafe
// methods still invalidate as RFC 9111 §4.4 says.
func (s *Subrequests) Forward(w http.ResponseWriter, r *http.Request, detail string) {
	s.h.forwardUncached(w, r, s.route, "bypass", detail)
}

// Purge invalidates p as a write path does (counted as a "write" purge):
// on every tier, every node and downstream layer.
func (s *Subrequests) Purge(ctx context.Context, p Purge) (PurgeResult, error) {
	return s.h.purge(ctx, p, PurgeWrite)
}

// SetResult records how the client request being served by the extension
// (whose context is ctx) was answered, for the Observer and access log.
func (s *Subrequests) SetResult(ctx context.Context, r Result) {
	if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
		o.result = r
	}
}

// Name returns the cache's name in Cache-Status.
func (s *Subrequests) Name() string { return s.h.name }

// Untracked returns r marked so that its key is never written to the
// hot-key file (nor refreshed ahead): for subrequests whose URL a client
// could not replay (warm-up replays hot URLs as client requests).
func (s *Subrequests) Untracked(r *http.Request) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), untrackedKey{}, true))
}

type untrackedKey struct{}

type waitingKey struct{}

// noteWaiting calls the waiting hook of a subrequest (see
// Subrequests.Serve), if ctx carries one.
func noteWaiting(ctx context.Context) {
	if f, ok := ctx.Value(waitingKey{}).(func()); ok {
		f()
	}
}

// extensionOf returns the extension whose subrequest's origin request
// carries ctx (a fill's or a bypass's), or nil.
func (h *Handler) extensionOf(ctx context.Context) Extension {
	if h.extVariants == nil {
		return nil
	}
	if f := fillFrom(ctx); f != nil {
		return h.extVariants[f.pol]
	}
	if p, ok := ctx.Value(passKey{}).(*pass); ok {
		return h.extVariants[p.pol]
	}
	return nil
}
