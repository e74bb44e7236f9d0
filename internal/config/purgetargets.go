package config

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/moatproxy/moat/internal/httpcache"
)

// PurgeTarget is one cache layer purges are forwarded to (purge_targets[i]),
// in the API of its Type. Secrets (headers' values, api_token, client_token,
// client_secret, access_token) may be given as "${NAME}", read from the
// environment, and are never logged.
type PurgeTarget struct {
	// Type is the API the target speaks: moat (the default: moat's own JSON
	// purge, for another moat), cloudflare, fastly, akamai or varnish (with
	// varnish-modules' xkey). See docs/invalidation.md for what each can purge.
	Type string `yaml:"type"`
	// URL is, for moat, the absolute http(s) URL each purge is POSTed to and,
	// for varnish, Varnish's scheme://host:port; required for those. For
	// cloudflare, fastly and akamai it is optional and replaces the API's base
	// URL (a proxy, a test server).
	URL string `yaml:"url"`
	// Headers are sent with every request (a value "${NAME}" is read from the
	// environment). The headers moat sets for the type may not be given.
	Headers map[string]string `yaml:"headers,omitempty" config:"env"`
	// Timeout bounds one attempt. Default 5s.
	Timeout Duration `yaml:"timeout"`

	// ZoneID is the Cloudflare zone (cloudflare: required).
	ZoneID string `yaml:"zone_id"`
	// APIToken is Cloudflare's API token (Bearer) or Fastly's Fastly-Key
	// (cloudflare, fastly: required).
	APIToken string `yaml:"api_token" config:"env"`
	// Hosts are the host names Cloudflare prefix purges apply to (each moat
	// prefix is sent as host+prefix); none: prefix purges are skipped.
	Hosts []string `yaml:"hosts,omitempty"`
	// BatchSize is the most items per Cloudflare request. Default 30, at
	// most 100.
	BatchSize int `yaml:"batch_size"`

	// ServiceID is the Fastly service (fastly: required).
	ServiceID string `yaml:"service_id"`

	// Host is the Akamai API client's host, e.g.
	// akab-xxxx.luna.akamaiapis.net (akamai: required).
	Host string `yaml:"host"`
	// ClientToken, ClientSecret and AccessToken are the Akamai EdgeGrid
	// credentials (akamai: required).
	ClientToken  string `yaml:"client_token" config:"env"`
	ClientSecret string `yaml:"client_secret" config:"env"`
	AccessToken  string `yaml:"access_token" config:"env"`
	// Network is the Akamai network purged: production (the default) or
	// staging.
	Network string `yaml:"network"`
	// Action is the Akamai purge action for every purge: invalidate or
	// delete. Default: invalidate for soft purges, delete for hard ones.
	Action string `yaml:"action"`
}

// Purge target types (PurgeTarget.Type).
var purgeTargetTypes = []string{"moat", "cloudflare", "fastly", "akamai", "varnish"}

// Kind returns t's type, "moat" when none is given.
func (t *PurgeTarget) Kind() string {
	if t.Type == "" {
		return "moat"
	}
	return t.Type
}

// purgeTargetSettings are the type-specific keys, with the type each belongs to.
var purgeTargetSettings = []struct {
	key   string
	types []string
	get   func(*PurgeTarget) bool // whether it is set
}{
	{"zone_id", []string{"cloudflare"}, func(t *PurgeTarget) bool { return t.ZoneID != "" }},
	{"api_token", []string{"cloudflare", "fastly"}, func(t *PurgeTarget) bool { return t.APIToken != "" }},
	{"hosts", []string{"cloudflare"}, func(t *PurgeTarget) bool { return len(t.Hosts) > 0 }},
	{"batch_size", []string{"cloudflare"}, func(t *PurgeTarget) bool { return t.BatchSize != 0 }},
	{"service_id", []string{"fastly"}, func(t *PurgeTarget) bool { return t.ServiceID != "" }},
	{"host", []string{"akamai"}, func(t *PurgeTarget) bool { return t.Host != "" }},
	{"client_token", []string{"akamai"}, func(t *PurgeTarget) bool { return t.ClientToken != "" }},
	{"client_secret", []string{"akamai"}, func(t *PurgeTarget) bool { return t.ClientSecret != "" }},
	{"access_token", []string{"akamai"}, func(t *PurgeTarget) bool { return t.AccessToken != "" }},
	{"network", []string{"akamai"}, func(t *PurgeTarget) bool { return t.Network != "" }},
	{"action", []string{"akamai"}, func(t *PurgeTarget) bool { return t.Action != "" }},
}

// purgeTargetRequired are the keys each type needs.
var purgeTargetRequired = map[string][]string{
	"moat":       {"url"},
	"varnish":    {"url"},
	"cloudflare": {"zone_id", "api_token"},
	"fastly":     {"service_id", "api_token"},
	"akamai":     {"host", "client_token", "client_secret", "access_token"},
}

// purgeTargetReserved are the request headers moat sets, per type, besides
// Content-Type, Content-Length, Host and Idempotency-Key.
var purgeTargetReserved = map[string][]string{
	"cloudflare": {"Authorization"},
	"fastly":     {"Fastly-Key", "Surrogate-Key", "Fastly-Soft-Purge"},
	"akamai":     {"Authorization"},
	"varnish":    {"Xkey-Purge", "Xkey-Softpurge", "X-Moat-Ban-Path", "X-Moat-Ban-All"},
}

// maxCloudflareBatch is Cloudflare's documented limit of items per purge
// request (fanout.MaxCloudflareBatch).
const maxCloudflareBatch = 100

// purgeTarget checks purge_targets[i]. Messages never quote a secret, nor a
// URL's query or user info.
func (k *checker) purgeTarget(i int, t *PurgeTarget) {
	base := fmt.Sprintf("purge_targets[%d]", i)
	typ := t.Kind()
	if !slices.Contains(purgeTargetTypes, typ) {
		k.errorf(base+".type", nil, "%s", oneOf(t.Type, purgeTargetTypes))
		return
	}
	set := map[string]bool{"url": t.URL != ""}
	for _, s := range purgeTargetSettings {
		set[s.key] = s.get(t)
		if set[s.key] && !slices.Contains(s.types, typ) {
			k.errorf(base+"."+s.key, []string{base}, "only for type %s (this target is type %s)", strings.Join(s.types, " or "), typ)
		}
	}
	for _, key := range purgeTargetRequired[typ] {
		if !set[key] {
			k.errorf(base+"."+key, []string{base}, "required for type %s", typ)
		}
	}
	if t.URL != "" {
		u, err := url.Parse(t.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			k.errorf(base+".url", nil, "want an absolute http or https URL")
		case u.Fragment != "":
			k.errorf(base+".url", nil, "must not have a #fragment")
		case typ == "varnish" && ((u.Path != "" && u.Path != "/") || u.RawQuery != ""):
			k.errorf(base+".url", nil, "for type varnish, give only scheme://host:port (a purged URL's path is the request's)")
		}
	}
	if t.Timeout < 0 {
		k.errorf(base+".timeout", nil, "must not be negative, got %s", t.Timeout)
	}
	reserved := append([]string{"Content-Type", "Content-Length", "Host", "Idempotency-Key"}, purgeTargetReserved[typ]...)
	for _, name := range slices.Sorted(maps.Keys(t.Headers)) {
		key := mapKey(base+".headers", name)
		switch {
		case !httpcache.IsToken(name):
			k.errorf(key, nil, "%q is not a header field name", name)
		case slices.Contains(reserved, http.CanonicalHeaderKey(name)):
			k.errorf(key, nil, "is set by moat for type %s and cannot be configured", typ)
		case strings.ContainsAny(t.Headers[name], "\r\n\x00"):
			k.errorf(key, nil, "the value contains a line break or NUL")
		}
	}
	for _, s := range [...]struct{ key, v string }{
		{"api_token", t.APIToken}, {"client_token", t.ClientToken}, {"client_secret", t.ClientSecret}, {"access_token", t.AccessToken},
	} {
		if strings.ContainsAny(s.v, "\r\n\x00") {
			k.errorf(base+"."+s.key, nil, "the value contains a line break or NUL")
		}
	}
	for _, s := range [...]struct{ key, v string }{{"zone_id", t.ZoneID}, {"service_id", t.ServiceID}} {
		if strings.ContainsAny(s.v, "/?#% \t\r\n\x00") {
			k.errorf(base+"."+s.key, nil, "%q is not a valid ID", s.v)
		}
	}
	if t.BatchSize < 0 || t.BatchSize > maxCloudflareBatch {
		k.errorf(base+".batch_size", nil, "must be between 1 and %d (0: the default 30), got %d", maxCloudflareBatch, t.BatchSize)
	}
	for j, h := range t.Hosts {
		if msg := bareHostProblem(h); msg != "" {
			k.errorf(fmt.Sprintf("%s.hosts[%d]", base, j), nil, "%s", msg)
		}
	}
	if t.Host != "" {
		if msg := bareHostProblem(t.Host); msg != "" {
			k.errorf(base+".host", nil, "%s", msg)
		}
	}
	if t.Network != "" && !slices.Contains([]string{"production", "staging"}, t.Network) {
		k.errorf(base+".network", nil, "%s", oneOf(t.Network, []string{"production", "staging"}))
	}
	if t.Action != "" && !slices.Contains([]string{"invalidate", "delete"}, t.Action) {
		k.errorf(base+".action", nil, "%s", oneOf(t.Action, []string{"invalidate", "delete"}))
	}
}

// bareHostProblem says what is wrong with a host name given without scheme
// or path, or "".
func bareHostProblem(h string) string {
	if h == "" || strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@ \t\r\n\x00") {
		return fmt.Sprintf("want a host name like shop.example.com (no scheme, no path), got %q", h)
	}
	return ""
}
