package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/moatproxy/moat/internal/auth"
	"github.com/moatproxy/moat/internal/httpcache"
)

// Security hardens how client requests are handled before they reach the origin. The zero
// value strips no header fields, drops header fields with '_' in their name, and has no body
// timeout, which Validate rejects: start from [Default].
type Security struct {
	// StripHeaders are request header fields removed from every request before it reaches the
	// origin, unless the route varies on one (it is then keyed, and forwarded). Names must be valid field names and are
	// compared case-insensitively. A list in the file replaces the default; [] strips nothing.
	// Default: [cachekey.UnkeyedHeaders] (X-Forwarded-Scheme, X-Forwarded-Port,
	// X-Original-URL, X-HTTP-Method-Override, ...), fields that frameworks honour to rewrite
	// the URL, method, scheme, host or port they serve but that no key carries.
	//
	// WARNING: a field the origin honours that is neither stripped nor keyed lets one client
	// choose the response stored for everyone (web cache poisoning by unkeyed input).
	StripHeaders []string `yaml:"strip_headers"`
	// AllowUnderscoreHeaders keeps request header fields whose name contains '_'. Default
	// false: they are dropped, as nginx does, because origins that fold '_' into '-' (CGI,
	// PHP, Rack, WSGI) would read X_Forwarded_Host as X-Forwarded-Host or X_API_Key as
	// X-API-Key, around StripHeaders and the keying of the real field.
	AllowUnderscoreHeaders bool `yaml:"allow_underscore_headers"`
	// ClientBodyTimeout is the longest wait between two reads of a client's request body; a
	// slower upload is answered 408 Request Timeout and its connection closed. Default 30s;
	// must be positive.
	ClientBodyTimeout Duration `yaml:"client_body_timeout"`
	// MaxHeaderBytes bounds the request line and header fields of one request; a larger one is
	// answered 431 Request Header Fields Too Large. It bounds what a slow client can make the
	// gateway hold per connection. Default 64KiB; at least 4KiB, at most 1MiB.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
}

// MinAdminTokenBytes is the shortest admin.token accepted on an admin listener that is not a
// loopback address (on a loopback address a shorter one is a warning).
const MinAdminTokenBytes = 16

func (k *checker) security() {
	s := k.c.Security
	for i, h := range s.StripHeaders {
		if !httpcache.IsToken(h) {
			k.errorf(fmt.Sprintf("security.strip_headers[%d]", i), nil, "%q is not a header field name", h)
		}
	}
	k.positive("security.client_body_timeout", s.ClientBodyTimeout, DefaultClientBodyTimeout)
	if s.MaxHeaderBytes < 4<<10 || s.MaxHeaderBytes > 1<<20 {
		k.errorf("security.max_header_bytes", nil, "must be between 4KiB and 1MiB (got %d bytes)", int64(s.MaxHeaderBytes))
	}
	if s.AllowUnderscoreHeaders {
		return
	}
	for _, f := range k.c.authHeaders() {
		if strings.Contains(f.name, "_") {
			k.errorf(f.key, []string{"auth"}, "%s contains \"_\": such fields are dropped from every request, so no request would carry it; "+
				"use a name with '-' or set security.allow_underscore_headers: true", f.name)
		}
	}
}

// headerKey is a key of the config that names a request header field, and the field.
type headerKey struct{ key, name string }

// authHeaders lists the request header fields the auth section names, with their keys.
func (c *Config) authHeaders() []headerKey {
	var list []headerKey
	add := func(key, name string) {
		if name != "" {
			list = append(list, headerKey{key, name})
		}
	}
	if j := c.Auth.JWT; j != nil {
		add("auth.jwt.header", j.Header)
	}
	if a := c.Auth.APIKeys; a != nil {
		add("auth.api_keys.header", a.Header)
	}
	if t := c.Auth.TrustedHeader; t != nil {
		add("auth.trusted_header.header", t.Header)
		add("auth.trusted_header.subject_header", t.SubjectHeader)
	}
	return list
}

// credential is a request header field that carries credentials, and what they are.
type credential struct{ name, what string }

// credentialFields lists the request header fields a route must not vary on: every field the
// auth section reads, the standard credential fields and the conventional API key field.
func (c *Config) credentialFields() []credential {
	var list []credential
	for _, f := range c.authHeaders() {
		list = append(list, credential{f.name, "it is " + f.key})
	}
	return append(list,
		credential{"Authorization", "HTTP authentication"},
		credential{"Proxy-Authorization", "proxy authentication"},
		credential{"Cookie", "sessions"},
		credential{auth.DefaultAPIKeyHeader, "API keys"},
	)
}

// varyHeaders checks the routes' vary lists: field names, credentials, underscores.
//
// WARNING: varying on a credential would put every caller's token into a cache key, and so
// into the admin API's key listing and the hot-key file; scope tier or user keys on what the
// credential proves instead, never on the credential.
func (k *checker) varyHeaders() {
	creds := k.c.credentialFields()
	for i := range k.c.Routes {
		r := &k.c.Routes[i]
	next:
		for j, h := range r.Vary {
			key := fmt.Sprintf("routes[%d].vary[%d]", i, j)
			if !httpcache.IsToken(h) {
				k.errorf(key, nil, "%q is not a header field name", h)
				continue
			}
			for _, cf := range creds {
				if strings.EqualFold(h, cf.name) {
					k.errorf(key, nil, "%s carries credentials (%s): varying on it would put them into cache keys, "+
						"the /api/keys listing and the hot-key file; use scope: tier or scope: user instead", h, cf.what)
					continue next
				}
			}
			if !k.c.Security.AllowUnderscoreHeaders && strings.Contains(h, "_") {
				k.errorf(key, nil, "%s contains \"_\": such fields are dropped from every request, so the route would never vary on it; "+
					"use a name with '-' or set security.allow_underscore_headers: true", h)
			}
		}
	}
}

// trustedFrom rejects a trusted_header source that trusts every peer.
func (k *checker) trustedFrom() {
	t := k.c.Auth.TrustedHeader
	if t == nil {
		return
	}
	for i, f := range t.From {
		pf, err := netip.ParsePrefix(f)
		if err != nil {
			continue // a single address, or an error auth reports
		}
		bits := pf.Bits()
		if pf.Addr().Is4In6() && bits >= 96 {
			bits -= 96 // peers are unmapped, so ::ffff:0.0.0.0/96 is 0.0.0.0/0
		}
		if bits == 0 {
			k.errorf(fmt.Sprintf("auth.trusted_header.from[%d]", i), []string{"auth.trusted_header.from"},
				"%s trusts every address: any client could send %s and claim any tier; list only the proxies that set it", f, t.Header)
		}
	}
}

// weakAdminToken says what makes admin.token weak, or returns "" for a strong token or when
// there is no admin listener (or its address is malformed, an error of its own). loopback
// reports whether admin.listen accepts connections from this machine only: a weak token is an
// error when it does not (Validate) and a warning when it does (Warnings).
func (c *Config) weakAdminToken() (why string, loopback bool) {
	a := c.Admin
	if a.Listen == "" || a.Token == "" {
		return "", false
	}
	if _, _, err := net.SplitHostPort(a.Listen); err != nil {
		return "", false
	}
	return weakToken(a.Token), isLoopback(a.Listen)
}

// fixAdminToken ends the messages about a weak admin.token.
const fixAdminToken = `use at least 16 random bytes (e.g. openssl rand -hex 32), or "${NAME}" to read it from the environment`

// placeholderTokens are tokens found in examples and tutorials, lower-cased and without
// separators ('-', '_', '.', ' ').
var placeholderTokens = []string{
	"changeme", "changethis", "replaceme", "secret", "token", "admin", "password", "passwd", "pass",
	"test", "testing", "example", "default", "moat", "letmein", "qwerty", "abc123", "123456",
	"12345678", "1234567890", "xxx", "todo", "fixme", "placeholder", "mytoken", "yourtoken",
	"admintoken", "secrettoken", "supersecret", "topsecret", "s3cret", "p4ssw0rd", "password123",
	"adminadmin", "admin123", "token123", "secret123", "insecure", "dev", "devtoken",
}

// weakToken says what makes token weak, or returns "". It never repeats the token.
func weakToken(token string) string {
	norm := strings.Map(func(r rune) rune {
		if strings.ContainsRune("-_. ", r) {
			return -1
		}
		return r
	}, strings.ToLower(token))
	for _, p := range placeholderTokens {
		if norm == p {
			return "is a well-known placeholder"
		}
	}
	for _, p := range []string{"changeme", "changethis", "replaceme", "replacewith", "replacethis"} {
		if strings.Contains(norm, p) {
			return "is a placeholder to replace"
		}
	}
	if len(token) < MinAdminTokenBytes {
		return fmt.Sprintf("has %d bytes, fewer than %d", len(token), MinAdminTokenBytes)
	}
	distinct := make(map[byte]bool)
	for i := 0; i < len(token); i++ {
		distinct[token[i]] = true
	}
	if len(distinct) < 5 {
		return fmt.Sprintf("uses only %d distinct characters", len(distinct))
	}
	return ""
}

// isLoopback reports whether the listen address addr (host:port) only accepts connections
// from this machine: 127.0.0.0/8, ::1 or localhost. An empty host (all interfaces) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
