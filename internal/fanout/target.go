package fanout

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// DefaultTimeout is Target.Timeout when it is zero.
const DefaultTimeout = 5 * time.Second

// ErrInvalidTarget is wrapped by every error of Target.Validate and New about a target.
var ErrInvalidTarget = errors.New("fanout: invalid purge target")

// Target types: the purge API a target speaks (Target.Type).
const (
	TypeMoat       = "moat"       // moat's own JSON purge, for another moat (the default)
	TypeCloudflare = "cloudflare" // Cloudflare's purge_cache API
	TypeFastly     = "fastly"     // Fastly's purge API
	TypeAkamai     = "akamai"     // Akamai Fast Purge (CCU v3), EdgeGrid-signed
	TypeVarnish    = "varnish"    // Varnish with varnish-modules' xkey, PURGE and BAN
)

// Types returns the target types, the default first.
func Types() []string {
	return []string{TypeMoat, TypeCloudflare, TypeFastly, TypeAkamai, TypeVarnish}
}

// Target is one downstream purge endpoint: one entry of purge_targets in moat's config.
type Target struct {
	// Type is the API the target speaks: TypeMoat (the default when empty), TypeCloudflare,
	// TypeFastly, TypeAkamai or TypeVarnish. Each type's adapter turns a Purge into the
	// requests that API wants; the parts of a purge it cannot express are skipped and counted
	// in TargetStats.Unsupported, never widened into a purge of everything.
	Type string

	// URL is, for TypeMoat, the absolute http or https URL every purge is POSTed to, and for
	// TypeVarnish the scheme://host:port of Varnish (PURGE and BAN requests go there). Required
	// for those two. For a CDN it is optional and replaces the API's base URL
	// (https://api.cloudflare.com/client/v4, https://api.fastly.com, https://{Akamai.Host}),
	// e.g. for a test server or a proxy. It may carry a credential in its query; moat logs it
	// without query or user info.
	URL string

	// Headers are added to every request. Values are sent as given: "${NAME}" references must
	// be expanded before New (by the config layer), and New rejects a value that still looks
	// like one. Header values are never logged. The headers an adapter sets (Content-Type,
	// Content-Length, Host, Idempotency-Key, and per type Authorization, Fastly-Key,
	// Surrogate-Key, Fastly-Soft-Purge, xkey-purge, ...) may not be configured. Default: none.
	Headers map[string]string

	// Timeout bounds one attempt, from connecting to reading the answer. Default: 5s
	// (DefaultTimeout).
	Timeout time.Duration

	// Cloudflare, Fastly and Akamai are the settings of those types; only the one of Type is
	// read.
	Cloudflare Cloudflare
	Fastly     Fastly
	Akamai     Akamai
}

// Cloudflare are the settings of a TypeCloudflare target.
type Cloudflare struct {
	// ZoneID is the zone whose cache is purged. Required.
	ZoneID string
	// APIToken is an API token with the Cache Purge permission, sent as a Bearer token.
	// Required; never logged.
	APIToken string
	// Hosts are the host names prefix purges apply to: Cloudflare's prefixes carry the host
	// ("shop.example.com/api/"), moat's do not ("/api/"), so each moat prefix is sent once per
	// host. None: prefix purges are unsupported.
	Hosts []string
	// BatchSize is the most items (tags, URLs or prefixes) in one request. Default 30
	// (DefaultCloudflareBatch); at most 100 (MaxCloudflareBatch).
	BatchSize int
}

// Fastly are the settings of a TypeFastly target.
type Fastly struct {
	// ServiceID is the service whose cache is purged by key or entirely. Required.
	ServiceID string
	// APIToken is sent as Fastly-Key. Required; never logged.
	APIToken string
}

// Akamai are the settings of a TypeAkamai target: an EdgeGrid API client with Fast Purge
// access. Its credentials are never logged.
type Akamai struct {
	// Host is the API client's host, e.g. akab-xxxx.luna.akamaiapis.net. Required.
	Host string
	// ClientToken, ClientSecret and AccessToken are the API client's credentials. Required.
	ClientToken, ClientSecret, AccessToken string
	// Network is "production" (the default) or "staging".
	Network string
	// Action is "invalidate" or "delete" for every purge. Default: "invalidate" for soft purges,
	// "delete" for hard ones.
	Action string
}

// commonReserved are the request headers fanout owns for every type.
var commonReserved = []string{"Content-Type", "Content-Length", "Host", "Idempotency-Key"}

// typeReserved are the headers each type's adapter sets, besides commonReserved.
var typeReserved = map[string][]string{
	TypeCloudflare: {"Authorization"},
	TypeFastly:     {"Fastly-Key", "Surrogate-Key", "Fastly-Soft-Purge"},
	TypeAkamai:     {"Authorization"},
	TypeVarnish:    {"Xkey-Purge", "Xkey-Softpurge", "X-Moat-Ban-Path", "X-Moat-Ban-All"},
}

// kind returns t's type, with the default filled in.
func (t Target) kind() string {
	if t.Type == "" {
		return TypeMoat
	}
	return t.Type
}

// Validate reports the first problem with t, as an error wrapping ErrInvalidTarget whose
// message names the field as moat's config does ("url: ...", "headers.X: ...",
// "zone_id: ..."), so that a config layer can place it at its line. New calls it for every
// target.
func (t Target) Validate() error {
	if field, reason := t.problem(); field != "" {
		return fmt.Errorf("%w: %s: %s", ErrInvalidTarget, field, reason)
	}
	return nil
}

// problem returns the field of t that is wrong and why, or "" if t is valid. The reason never
// quotes a header value, a secret or the URL's query or user info, which may hold credentials.
func (t Target) problem() (field, reason string) {
	typ := t.kind()
	if !slices.Contains(Types(), typ) {
		return "type", fmt.Sprintf("unknown type %q (want one of %s)", t.Type, strings.Join(Types(), ", "))
	}
	if t.URL == "" {
		if typ == TypeMoat || typ == TypeVarnish {
			return "url", "required for type " + typ
		}
	} else if reason := urlProblem(t.URL); reason != "" {
		return "url", reason
	} else if typ == TypeVarnish {
		if u, _ := url.Parse(t.URL); (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return "url", "for type varnish, give only scheme://host:port (the purged URL's path is the request's)"
		}
	}
	if t.Timeout < 0 {
		return "timeout", "must not be negative"
	}
	reserved := append(slices.Clone(commonReserved), typeReserved[typ]...)
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) { // sorted: the same file, the same error
		value, f := t.Headers[name], "headers."+name
		switch {
		case !validHeaderName(name):
			return f, "not a valid header name"
		case slices.Contains(reserved, http.CanonicalHeaderKey(name)):
			return f, "is set by moat and cannot be configured"
		default:
			if reason := secretProblem(value); reason != "" {
				return f, "value " + reason
			}
		}
	}
	switch typ {
	case TypeCloudflare:
		return t.Cloudflare.problem()
	case TypeFastly:
		return t.Fastly.problem()
	case TypeAkamai:
		return t.Akamai.problem()
	}
	return "", ""
}

// urlProblem says what is wrong with an absolute http(s) URL, or "".
func urlProblem(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "not a valid URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "must be an absolute http:// or https:// URL"
	case u.Host == "":
		return "has no host"
	case u.Fragment != "":
		return "must not have a #fragment"
	}
	return ""
}

// required checks a setting that a type needs; secret ones are checked without being quoted.
func required(field, value, typ string, secret bool) (string, string) {
	switch {
	case value == "":
		return field, "required for type " + typ
	case secret:
		if reason := secretProblem(value); reason != "" {
			return field, reason
		}
	case strings.ContainsAny(value, "/?#% \t\r\n\x00"):
		return field, fmt.Sprintf("%q is not a valid ID", value)
	}
	return "", ""
}

// secretProblem says what is wrong with a header value or a credential, without quoting it.
func secretProblem(v string) string {
	switch {
	case strings.ContainsAny(v, "\r\n\x00"):
		return "contains a line break or NUL"
	case strings.Contains(v, "${"):
		return "contains an unexpanded ${...} reference"
	}
	return ""
}

// hostProblem says what is wrong with a bare host name ("shop.example.com"), or "".
func hostProblem(h string) string {
	if h == "" || strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@ \t\r\n\x00") {
		return fmt.Sprintf("want a host name like shop.example.com (no scheme, no path), got %q", h)
	}
	return ""
}

func (c Cloudflare) problem() (field, reason string) {
	if f, r := required("zone_id", c.ZoneID, TypeCloudflare, false); f != "" {
		return f, r
	}
	if f, r := required("api_token", c.APIToken, TypeCloudflare, true); f != "" {
		return f, r
	}
	if c.BatchSize < 0 || c.BatchSize > MaxCloudflareBatch {
		return "batch_size", fmt.Sprintf("must be between 1 and %d (0: the default %d), got %d",
			MaxCloudflareBatch, DefaultCloudflareBatch, c.BatchSize)
	}
	for i, h := range c.Hosts {
		if r := hostProblem(h); r != "" {
			return fmt.Sprintf("hosts[%d]", i), r
		}
	}
	return "", ""
}

func (f Fastly) problem() (field, reason string) {
	if fl, r := required("service_id", f.ServiceID, TypeFastly, false); fl != "" {
		return fl, r
	}
	return required("api_token", f.APIToken, TypeFastly, true)
}

// Akamai networks and actions.
var (
	akamaiNetworks = []string{"production", "staging"}
	akamaiActions  = []string{"invalidate", "delete"}
)

func (a Akamai) problem() (field, reason string) {
	if a.Host == "" {
		return "host", "required for type akamai"
	}
	if r := hostProblem(a.Host); r != "" {
		return "host", r
	}
	for _, s := range []struct{ field, value string }{
		{"client_token", a.ClientToken}, {"client_secret", a.ClientSecret}, {"access_token", a.AccessToken},
	} {
		if f, r := required(s.field, s.value, TypeAkamai, true); f != "" {
			return f, r
		}
	}
	if a.Network != "" && !slices.Contains(akamaiNetworks, a.Network) {
		return "network", fmt.Sprintf("%q is not one of %s", a.Network, strings.Join(akamaiNetworks, ", "))
	}
	if a.Action != "" && !slices.Contains(akamaiActions, a.Action) {
		return "action", fmt.Sprintf("%q is not one of %s", a.Action, strings.Join(akamaiActions, ", "))
	}
	return "", ""
}

// validHeaderName reports whether name is an RFC 9110 §5.6.2 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := range len(name) {
		c := name[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// displayURL is u as it may appear in logs and Stats: scheme, host and path, without user info
// or query, which may hold credentials.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
}
