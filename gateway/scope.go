package gateway

import (
	"net/http"
	"strings"

	"github.com/moatproxy/moat/cachekey"
	"github.com/moatproxy/moat/policy"
)

// Identity is who a request is, as far as verified sources say.
type Identity struct {
	// Tier is the verified tier ("" when the credentials were rejected);
	// requests without credentials get the first, anonymous tier.
	Tier string
	// User is a keyed hash of the verified subject ("" if none). It never
	// holds the credential or the subject itself.
	User string
	// Credentialed: the request carried credentials of any kind.
	Credentialed bool
	// Valid: the credentials were verified.
	Valid bool
	// Reason says why credentials were rejected, for logs and inspection.
	Reason string
}

// Identifier resolves a request's Identity from verified sources only
// (internal/auth.Resolver adapted by the server).
//
// WARNING: an Identifier must never derive a tier or user from anything a
// client can forge; the cache shares entries by what it returns.
type Identifier interface {
	Identify(r *http.Request) Identity
	// HasCredentials reports whether Identify would find r Credentialed,
	// without verifying anything: public routes need no more.
	HasCredentials(r *http.Request) bool
}

// identify returns r's identity; without an Identifier, Authorization is
// the only credential moat knows and it is never verified.
func (h *Handler) identify(r *http.Request) Identity {
	if h.ident != nil {
		return h.ident.Identify(r)
	}
	_, auth := r.Header["Authorization"]
	return Identity{Credentialed: auth}
}

// hasCredentials reports whether r carries credentials, verified or not.
func (h *Handler) hasCredentials(r *http.Request) bool {
	if h.ident != nil {
		return h.ident.HasCredentials(r)
	}
	_, auth := r.Header["Authorization"]
	return auth
}

// scopeSuffix is what a key gains from the route's scope and vary
// dimensions: "" for a public route without dimensions. bypass names why
// the request may not use the cache at all (then the suffix is unused).
func (h *Handler) scopeSuffix(r *http.Request, pol *policy.Policy, dims string) (suffix, bypass string, id Identity) {
	if pol == nil {
		return dims, "", id
	}
	switch pol.Scope {
	case policy.ScopePublic:
		// Who the caller is does not matter here, only whether it brought
		// credentials: no signature is checked on the hit path.
		if !pol.AllowCredentials && h.hasCredentials(r) {
			return "", "credentials", id
		}
		if dims == "" {
			return "", "", id
		}
		return "\x00s" + dims, "", id
	case policy.ScopeTier:
		id = h.identify(r)
		if id.Credentialed && !id.Valid {
			// A forged, expired or unverifiable credential never gets a
			// cached tier response.
			return "", "invalid-credentials", id
		}
		return "\x00s" + "t=" + id.Tier + dims, "", id
	case policy.ScopeUser:
		id = h.identify(r)
		if !id.Valid || id.User == "" {
			return "", "no-verified-user", id
		}
		return "\x00s" + "u=" + id.User + dims, "", id
	}
	return "", "scope", id
}

// normalize returns r with its URL normalized (cachekey.Normalizer, the
// route's params) and its varied headers negotiated, and the key suffix of
// those header dimensions. The origin receives the returned request, so a
// stored response always answers exactly what its key says. r itself is
// never modified; a copy is made only when something changes.
func (h *Handler) normalize(r *http.Request, pol *policy.Policy) (*http.Request, string) {
	out := r
	if h.norm != nil {
		var rules *cachekey.ParamRules
		if pol != nil {
			rules = pol.Params
		}
		// The path is canonical already (ServeHTTP's canonical request):
		// only the query remains, under the route's rules.
		if query, changed := h.norm.Query(r.URL, rules); changed {
			c := *r
			u := *r.URL
			u.RawQuery, u.ForceQuery = query, false
			c.URL = &u
			c.RequestURI = u.RequestURI()
			out = &c
		}
	}
	if pol == nil || len(pol.Vary) == 0 {
		return out, ""
	}
	hdr := out.Header.Clone()
	var b strings.Builder
	for _, name := range pol.Vary {
		raw, present := r.Header[name]
		joined := strings.Join(raw, ",")
		var v string
		switch {
		case name == "Accept-Language" && len(pol.Languages) > 0:
			v = cachekey.Language(joined, pol.Languages)
		case name == "Accept" && len(pol.MediaTypes) > 0:
			v = cachekey.MediaType(joined, pol.MediaTypes)
		case !present:
			b.WriteString("\x00d" + name + "\x01") // absent differs from empty
			continue
		default:
			v = cachekey.HeaderValue(joined)
		}
		if kv := v; cachekey.Credential(name) && v != "" {
			// Never a token in a key (a library user may vary on one;
			// the config refuses it).
			b.WriteString("\x00d" + name + "=" + cachekey.HashValue(kv))
		} else {
			b.WriteString("\x00d" + name + "=" + v)
		}
		if v == "" {
			delete(hdr, name)
		} else {
			hdr[name] = []string{v}
		}
	}
	if out == r {
		c := *r
		out = &c
	}
	out.Header = hdr
	return out, b.String()
}
