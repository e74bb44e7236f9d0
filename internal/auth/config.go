package auth

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// Config is the `auth:` section of moat.yaml: the tier names and the sources a request's tier
// may be verified from. The zero Config is valid: one tier, "anonymous", and no sources, so every
// request is anonymous (and one carrying an Authorization header is unverifiable; see
// [Identity]).
//
// WARNING: Config holds secrets (hs256_secret, raw API keys, user_hash_key). Do not log it with
// %v or hand it to a template.
type Config struct {
	// Tiers are the tier names, in order. The first is the anonymous tier: the tier of a request
	// without credentials. Names are letters, digits, '.', '_' and '-', and unique. They enter
	// cache keys, so renaming a tier starts its cache afresh. Default [anonymous].
	Tiers []string `yaml:"tiers"`
	// JWT verifies bearer tokens. Nil (the default) means no JWT verification.
	JWT *JWTConfig `yaml:"jwt"`
	// APIKeys verifies API keys against a table. Nil (the default) means no API keys.
	APIKeys *APIKeysConfig `yaml:"api_keys"`
	// TrustedHeader takes the tier from a header set by a trusted upstream (an auth proxy). Nil
	// (the default) means no trusted header.
	TrustedHeader *TrustedHeaderConfig `yaml:"trusted_header"`
	// UserHashKey is the secret of the keyed hash (HMAC-SHA256) that turns a verified subject
	// into the user part of a `scope: user` cache key. At least 32 bytes. "" (the default) means
	// a random key per process: user-scoped entries are then neither shared between nodes (the
	// L2 entries of one node are never hit by another) nor kept across restarts. Set it, the
	// same on every node, to share them.
	UserHashKey string `yaml:"user_hash_key" config:"env"`
}

// JWTConfig verifies JSON Web Tokens (RFC 7519) and takes the tier from one of their claims.
// At least one of HS256Secret, PublicKeyFile and JWKSFile is required; with several, a token
// verifies if any key of its algorithm (and, with a kid, of its kid) verifies it.
//
// Algorithms are pinned per key, never taken from the token alone: HS256 is accepted only when
// HS256Secret is set; an RSA key verifies RS256 (or, from a JWKS entry, the RSA algorithm its
// "alg" names); an ECDSA key verifies the one algorithm of its curve (P-256 → ES256, P-384 →
// ES384, P-521 → ES512); an Ed25519 key verifies EdDSA. "none" is never accepted.
//
// A token must carry exp (a token that never expires is rejected); nbf and iat are checked when
// present, all with Leeway.
type JWTConfig struct {
	// HS256Secret is the shared secret of HS256 tokens, at least 32 bytes (RFC 7518 §3.2).
	// "" (the default) means HS256 tokens are rejected.
	HS256Secret string `yaml:"hs256_secret" config:"env"`
	// PublicKeyFile is a PEM file of public keys: PKIX "PUBLIC KEY" blocks (RSA of at least 2048
	// bits, ECDSA P-256/P-384/P-521, Ed25519), PKCS #1 "RSA PUBLIC KEY" blocks, or "CERTIFICATE"
	// blocks (their public key is used; the certificate itself is not validated). Several blocks
	// are several keys (for rotation). These keys match any kid. Default "".
	PublicKeyFile string `yaml:"public_key_file" config:"path"`
	// JWKSFile is a local JSON Web Key Set file (RFC 7517); nothing is fetched over the network.
	// Keys with "use": "enc" are skipped; symmetric ("oct") keys are refused. A token with a kid
	// is verified by the JWKS keys of that kid only; one with a kid no JWKS key has falls back to
	// the kid-less keys (PublicKeyFile, HS256Secret, JWKS entries without a kid) and is rejected
	// when there are none. A token without a kid is tried against every key of its algorithm.
	// Default "".
	JWKSFile string `yaml:"jwks_file" config:"path"`
	// Issuer, when set, must equal the token's iss claim. Default "" (not checked).
	Issuer string `yaml:"issuer"`
	// Audience, when set, must be one of the token's aud values. Default "" (not checked).
	Audience string `yaml:"audience"`
	// TierClaim is the claim holding the tier name: a string that must be one of Config.Tiers.
	// Default "tier".
	TierClaim string `yaml:"tier_claim"`
	// SubjectClaim is the claim holding the subject used by `scope: user`: a string, or absent.
	// Default "sub".
	SubjectClaim string `yaml:"subject_claim"`
	// Header is the request header carrying the token. For "Authorization" (the default) the
	// value must use the Bearer scheme (RFC 6750 §2.1); for any other header the whole value is
	// the token, with an optional "Bearer " prefix.
	Header string `yaml:"header"`
	// Leeway is the clock skew allowed when checking exp, nbf and iat. Default 30s; at most 5m.
	// Zero means the default; a negative value is an error.
	Leeway Duration `yaml:"leeway"`
}

// APIKeysConfig verifies API keys against a table.
type APIKeysConfig struct {
	// Header is the request header carrying the key. Default "X-API-Key".
	Header string `yaml:"header"`
	// Keys maps a key id (a name for logs and the default subject) to its entry. At least one.
	Keys map[string]APIKey `yaml:"keys"`
}

// APIKey is one entry of the API key table.
type APIKey struct {
	// Key is the key: either its SHA-256 digest, "sha256:" and 64 hex digits, so that the config
	// need not hold the key itself (printf %s "$KEY" | sha256sum), or the raw key, at least 16
	// bytes. A value starting with "sha256:" (in any case) is always a digest. Required.
	Key string `yaml:"key" config:"env"`
	// Tier is the tier this key grants; one of Config.Tiers. Required.
	Tier string `yaml:"tier"`
	// Subject is the subject used by `scope: user`. Default: the entry's key id.
	Subject string `yaml:"subject"`
}

// TrustedHeaderConfig takes the tier from a header that an upstream (an auth proxy, an API
// management layer) sets after authenticating the caller.
//
// WARNING: the header is believed only from From; from any other peer it is a forgery and the
// request is rejected. From is matched against the TCP peer (http.Request.RemoteAddr), never
// against X-Forwarded-For or any other header a client can write; behind trusted proxies
// (WithPeer), against the address they say they received the request from.
type TrustedHeaderConfig struct {
	// Header names the header holding the tier, e.g. X-User-Tier. Its value must be one of
	// Config.Tiers. Required.
	Header string `yaml:"header"`
	// SubjectHeader names the header holding the subject used by `scope: user`, e.g. X-User-Id.
	// Default "" (no subject).
	SubjectHeader string `yaml:"subject_header"`
	// From lists the IP addresses and CIDR prefixes (IPv4 or IPv6) of the peers allowed to set
	// the headers. Required.
	From []string `yaml:"from"`
}

// Defaults, applied by New when the field is zero.
const (
	DefaultAnonymousTier = "anonymous"
	DefaultTierClaim     = "tier"
	DefaultSubjectClaim  = "sub"
	DefaultJWTHeader     = "Authorization"
	DefaultLeeway        = 30 * time.Second
	DefaultAPIKeyHeader  = "X-API-Key"
)

// Limits checked by New.
const (
	MaxLeeway         = 5 * time.Minute
	MinSecretBytes    = 32   // hs256_secret and user_hash_key (RFC 7518 §3.2)
	MinRawAPIKeyBytes = 16   // raw API keys; digests cannot be checked
	MinRSABits        = 2048 // RSA verification keys
)

// FieldError is a problem with one key of the auth section. New returns every problem it finds,
// joined with errors.Join; each is a *FieldError.
type FieldError struct {
	// Field is the key path, e.g. "auth.jwt.public_key_file" or "auth.api_keys.keys.acme.tier".
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// problems collects FieldErrors.
type problems []error

func (p *problems) add(field string, err error) {
	*p = append(*p, &FieldError{Field: field, Err: err})
}

func (p *problems) addf(field, format string, args ...any) {
	p.add(field, fmt.Errorf(format, args...))
}

var tierName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// plainKey matches map keys that need no quoting in a key path (as the config package does).
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func mapField(path, key string) string {
	if plainKey.MatchString(key) {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// checkHeaderName reports whether name is a valid field name (a token, RFC 9110 §5.1).
func checkHeaderName(name string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~') {
			return fmt.Errorf("invalid header name %q", name)
		}
	}
	return nil
}

// headers tracks the request headers the sources read, so that two sources never share one.
type headers map[string]string // canonical name → field path

func (h headers) claim(p *problems, field, name string) string {
	if err := checkHeaderName(name); err != nil {
		p.add(field, err)
		return ""
	}
	canon := http.CanonicalHeaderKey(name)
	if other, ok := h[canon]; ok {
		p.addf(field, "header %s is already used by %s", canon, other)
		return canon
	}
	h[canon] = field
	return canon
}

// Duration is a time.Duration that reads from text such as "30s" (so that
// config files can write leeway: 30s).
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s)", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
