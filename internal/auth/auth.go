// Package auth tells who a request is, from verified sources only: the tier a request's cached
// responses are shared within, and the subject a `scope: user` entry belongs to.
//
// Data flow: [New] validates a [Config], reads and parses every key file once, and returns a
// [Resolver]. For each request the gateway calls [Resolver.Resolve], which looks at the headers
// of every configured source (a JWT, an API key, a header from a trusted upstream) and returns an
// [Identity]: the anonymous tier when the request carries no credentials, the verified tier and
// subject when it carries valid ones, and a rejection (Credentialed and not Valid, with a Reason)
// when it carries credentials that do not verify. The gateway then builds the cache key from
// Identity.Tier and [Resolver.UserKey], never from the credentials themselves.
//
// Sources are evaluated in a fixed precedence: JWT, then API key, then trusted header. Precedence
// only orders them; it never lets one override another:
//   - a present credential that fails verification rejects the request, whatever the others say
//     (the Reason and Source are those of the first failure in precedence order);
//   - valid credentials from several sources must agree on tier and subject, or the request is
//     rejected with [ReasonConflict];
//   - when they agree, Source names the first of them.
//
// An Authorization header that no configured source reads (no jwt section, or jwt reading
// another header) still counts as credentials: alone, it makes the request unverifiable
// ([ReasonUnverified]); beside a valid credential from a configured source (a trusted upstream
// that forwards the caller's token, say) it is left to the origin.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Sources of an Identity.
const (
	SourceJWT           = "jwt"
	SourceAPIKey        = "api-key"
	SourceTrustedHeader = "trusted-header"
)

// Reasons a credential is rejected: a fixed set, so that they are safe as metric labels and
// never echo anything the client sent.
const (
	ReasonNotBearer      = "authorization is not a bearer token"
	ReasonDuplicate      = "credential header repeated"
	ReasonTooLarge       = "token too large"
	ReasonMalformed      = "malformed token"
	ReasonAlgNotAllowed  = "algorithm not allowed"
	ReasonUnknownKID     = "unknown key id"
	ReasonBadSignature   = "bad signature"
	ReasonExpired        = "token expired"
	ReasonNotYetValid    = "token not yet valid"
	ReasonIssuedInFuture = "token issued in the future"
	ReasonMissingExpiry  = "token has no expiry"
	ReasonWrongIssuer    = "wrong issuer"
	ReasonWrongAudience  = "wrong audience"
	ReasonInvalidClaims  = "invalid claims"
	ReasonMissingTier    = "tier missing"
	ReasonUnknownTier    = "unknown tier"
	ReasonBadSubject     = "subject is not a string"
	ReasonUntrustedPeer  = "trusted header from untrusted peer"
	ReasonUnknownAPIKey  = "unknown api key"
	ReasonConflict       = "conflicting credentials"
	ReasonUnverified     = "authorization header not verified by any configured source"
)

// Identity is who a request is, as far as caching is concerned.
//
// The three cases, and what the gateway does with each:
//
//	Credentialed  Valid   meaning                         cache
//	false         false   anonymous (no credentials)      anonymous tier; public routes as usual
//	true          true    verified                        Tier (scope: tier), UserKey (scope: user)
//	true          false   rejected or unverifiable        never: forward uncached, do not store
//
// WARNING: Tier is "" and TierIndex is -1 for a rejected request, so that it can never be
// mistaken for the anonymous tier. A rejected request must not be answered from the cache at
// all, not even from the anonymous tier's entries, and its response must not be stored.
type Identity struct {
	// Tier is one of the configured tiers: the anonymous tier (the first) without credentials,
	// the verified tier with valid ones, "" when rejected.
	Tier string
	// TierIndex is Tier's index in the configured tiers; -1 when rejected.
	TierIndex int
	// Subject is the verified subject, "" if none.
	//
	// WARNING: never put Subject into a cache key or a log line; use [Resolver.UserKey].
	Subject string
	// Credentialed reports that the request carried credentials of any kind, valid or not.
	Credentialed bool
	// Valid reports that the credentials were present and verified (false when anonymous).
	Valid bool
	// Source is the source of the credentials (SourceJWT, SourceAPIKey, SourceTrustedHeader),
	// "" when anonymous or when only an unverifiable Authorization header was present.
	Source string
	// Reason is why the credentials were rejected, one of the Reason constants; "" unless
	// Credentialed and not Valid. It never contains the credential.
	Reason string
}

// Resolver resolves requests to identities. It is safe for concurrent use.
type Resolver struct {
	tiers     []string
	tierIndex map[string]int

	jwt     *jwtSource
	apiKeys *apiKeySource
	trusted *trustedSource
	// foreignAuthorization: no source reads Authorization, so it is checked for presence only.
	foreignAuthorization bool
	// credentialFields are the header fields whose presence makes a request
	// Credentialed (see HasCredentials).
	credentialFields []string

	hashers sync.Pool // of *userHasher
}

// Option configures a Resolver beyond what the config file says.
type Option func(*options)

type options struct {
	now  func() time.Time
	peer func(*http.Request) string
}

// WithPeer sets how the address that trusted_header.from is matched against is read from a
// request: the server's client address, taken from X-Forwarded-For only through its trusted
// proxies (gateway.Handler.ClientAddr). Default: the TCP peer, RemoteAddr.
//
// WARNING: peer must never believe a header from a peer that is not a trusted proxy, or any
// client could choose the address it is matched as.
func WithPeer(peer func(*http.Request) string) Option {
	return func(o *options) { o.peer = peer }
}

// WithClock sets the clock that token lifetimes are checked against. Default time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New validates c, reads and parses its key files, and returns a Resolver. The error joins one
// *FieldError per problem, each naming its key, e.g. "auth.jwt.public_key_file: ...".
func New(c Config, opts ...Option) (*Resolver, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	var p problems
	r := &Resolver{}
	r.tiers, r.tierIndex = newTiers(&p, c.Tiers)

	used := headers{}
	if c.JWT != nil {
		r.jwt = newJWTSource(&p, *c.JWT, r.tierIndex, used, o.now)
	}
	if c.APIKeys != nil {
		r.apiKeys = newAPIKeySource(&p, *c.APIKeys, r.tierIndex, used)
	}
	if c.TrustedHeader != nil {
		r.trusted = newTrustedSource(&p, *c.TrustedHeader, r.tierIndex, used)
		r.trusted.peer = o.peer
	}
	_, authorizationRead := used["Authorization"]
	r.foreignAuthorization = !authorizationRead
	if r.jwt != nil {
		r.credentialFields = append(r.credentialFields, r.jwt.header)
	}
	if r.apiKeys != nil {
		r.credentialFields = append(r.credentialFields, r.apiKeys.header)
	}
	if r.trusted != nil {
		r.credentialFields = append(r.credentialFields, r.trusted.header)
		if r.trusted.subjectHeader != "" {
			r.credentialFields = append(r.credentialFields, r.trusted.subjectHeader)
		}
	}
	if r.foreignAuthorization {
		r.credentialFields = append(r.credentialFields, "Authorization")
	}

	key := []byte(c.UserHashKey)
	switch {
	case len(key) == 0:
		key = make([]byte, 32)
		rand.Read(key) // never fails (crypto/rand)
	case len(key) < MinSecretBytes:
		p.addf("auth.user_hash_key", "%d bytes; at least %d are needed (e.g. openssl rand -base64 32)", len(key), MinSecretBytes)
	}
	r.hashers.New = func() any { return &userHasher{h: hmac.New(sha256.New, key)} }

	if len(p) > 0 {
		return nil, errors.Join(p...)
	}
	return r, nil
}

func newTiers(p *problems, names []string) ([]string, map[string]int) {
	if len(names) == 0 {
		names = []string{DefaultAnonymousTier}
	}
	names = slices.Clone(names)
	index := make(map[string]int, len(names))
	for i, t := range names {
		field := "auth.tiers[" + strconv.Itoa(i) + "]"
		switch _, dup := index[t]; {
		case !tierName.MatchString(t):
			p.addf(field, "invalid tier name %q: use letters, digits, '.', '_' and '-'", t)
		case dup:
			p.addf(field, "duplicate tier %q", t)
		default:
			index[t] = i
		}
	}
	return names, index
}

// Tiers returns the configured tier names, the anonymous tier first.
func (r *Resolver) Tiers() []string { return slices.Clone(r.tiers) }

// verdict is one source's view of a request.
type verdict struct {
	present bool   // the source's credentials are in the request
	reason  string // "" when verified
	tier    int
	subject string
}

// HasCredentials reports whether req carries anything Resolve would treat as
// credentials (Credentialed), without verifying it: for callers whose
// decision does not depend on who the caller is (a public route bypasses
// the cache for any credentials), it saves the signature check.
func (r *Resolver) HasCredentials(req *http.Request) bool {
	for _, name := range r.credentialFields {
		if _, ok := req.Header[name]; ok {
			return true
		}
	}
	return false
}

// Resolve returns the identity of req. It reads only req's headers and RemoteAddr.
func (r *Resolver) Resolve(req *http.Request) Identity {
	var vs [3]verdict
	sources := [3]string{SourceJWT, SourceAPIKey, SourceTrustedHeader}
	if r.jwt != nil {
		vs[0] = r.jwt.verify(req.Header)
	}
	if r.apiKeys != nil {
		vs[1] = r.apiKeys.verify(req.Header)
	}
	if r.trusted != nil {
		vs[2] = r.trusted.verify(req)
	}

	first := -1
	for i, v := range vs {
		switch {
		case !v.present:
		case v.reason != "":
			return rejected(sources[i], v.reason)
		case first < 0:
			first = i
		case v.tier != vs[first].tier || v.subject != vs[first].subject:
			return rejected(sources[first], ReasonConflict)
		}
	}
	if first >= 0 {
		v := vs[first]
		return Identity{Tier: r.tiers[v.tier], TierIndex: v.tier, Subject: v.subject,
			Credentialed: true, Valid: true, Source: sources[first]}
	}
	if r.foreignAuthorization {
		if _, ok := req.Header["Authorization"]; ok {
			return rejected("", ReasonUnverified)
		}
	}
	return Identity{Tier: r.tiers[0]}
}

func rejected(source, reason string) Identity {
	return Identity{TierIndex: -1, Credentialed: true, Source: source, Reason: reason}
}

// userHasher is a keyed HMAC with a reusable input buffer.
type userHasher struct {
	h   hash.Hash
	buf []byte
	sum [sha256.Size]byte
}

// UserKey returns the user part of a `scope: user` cache key: a keyed hash (HMAC-SHA256 with
// user_hash_key, truncated to 128 bits, 32 hex digits) of id's source and verified subject.
// It is "" unless id is Valid and has a Subject; the gateway must then not use the cache for a
// user-scoped route. The source is part of the hash, so a JWT subject "acme" and an API key
// subject "acme" never share entries.
func (r *Resolver) UserKey(id Identity) string {
	if !id.Valid || id.Subject == "" {
		return ""
	}
	u := r.hashers.Get().(*userHasher)
	u.h.Reset()
	u.buf = append(append(append(u.buf[:0], id.Source...), 0), id.Subject...)
	u.h.Write(u.buf)
	sum := u.h.Sum(u.sum[:0])
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	if cap(u.buf) <= 4096 {
		r.hashers.Put(u)
	}
	return string(out[:])
}
