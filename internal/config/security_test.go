package config

import (
	"strings"
	"testing"
	"time"
)

// Auth sections that validate, for the tests below.
const (
	apiKeysAuth = "auth:\n  api_keys:\n    header: X-Key\n    keys: {acme: {key: 0123456789abcdef0123, tier: anonymous}}\n"
	jwtAuth     = "auth:\n  jwt: {hs256_secret: 0123456789abcdef0123456789abcdef, header: X-Token}\n"
	trustedAuth = "auth:\n  trusted_header: {header: X-User-Tier, subject_header: X-User-Id, from: [10.0.0.0/8]}\n"
)

const credentialFix = ": varying on it would put them into cache keys, the /api/keys listing and the hot-key file; use scope: tier or scope: user instead"

func TestVaryOnCredentialsIsAnError(t *testing.T) {
	t.Parallel()
	route := "routes:\n  - match: GET /a\n  - match: GET /b\n    vary: [Accept, %s]\n"
	tests := []struct {
		name   string
		auth   string
		header string
		want   string
	}{
		{"authorization", "", "Authorization", "moat.yaml:4: routes[1].vary[1]: Authorization carries credentials (HTTP authentication)"},
		{"authorization_any_case", "", "authorization", "moat.yaml:4: routes[1].vary[1]: authorization carries credentials (HTTP authentication)"},
		{"proxy_authorization", "", "Proxy-Authorization", "moat.yaml:4: routes[1].vary[1]: Proxy-Authorization carries credentials (proxy authentication)"},
		{"cookie", "", "COOKIE", "moat.yaml:4: routes[1].vary[1]: COOKIE carries credentials (sessions)"},
		{"default_api_key_header", "", "x-api-key", "moat.yaml:4: routes[1].vary[1]: x-api-key carries credentials (API keys)"},
		{"api_keys_header", apiKeysAuth, "x-key", "moat.yaml:8: routes[1].vary[1]: x-key carries credentials (it is auth.api_keys.header)"},
		{"jwt_header", jwtAuth, "X-TOKEN", "moat.yaml:6: routes[1].vary[1]: X-TOKEN carries credentials (it is auth.jwt.header)"},
		{"jwt_default_header", "auth:\n  jwt: {hs256_secret: 0123456789abcdef0123456789abcdef}\n", "Authorization", "moat.yaml:6: routes[1].vary[1]: Authorization carries credentials (HTTP authentication)"},
		{"trusted_header", trustedAuth, "x-user-tier", "moat.yaml:6: routes[1].vary[1]: x-user-tier carries credentials (it is auth.trusted_header.header)"},
		{"trusted_subject_header", trustedAuth, "X-User-Id", "moat.yaml:6: routes[1].vary[1]: X-User-Id carries credentials (it is auth.trusted_header.subject_header)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseErrors(t, tt.auth+strings.Replace(route, "%s", tt.header, 1), nil)
			if want := tt.want + credentialFix; len(got) != 1 || got[0] != want {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), want)
			}
		})
	}
	t.Run("other_headers_are_fine", func(t *testing.T) {
		t.Parallel()
		in := apiKeysAuth + "routes:\n  - match: GET /a\n    vary: [Accept-Language, X-Device, X-API-Version]\n    languages: [en]\n"
		if _, err := Parse([]byte(in), "moat.yaml"); err != nil {
			t.Errorf("Parse: %v", err)
		}
	})
}

func TestSecurityErrors(t *testing.T) {
	t.Parallel()
	const notLoopback = `is not a loopback address: anyone who can reach it could purge the cache and list its keys; ` +
		`use at least 16 random bytes (e.g. openssl rand -hex 32), or "${NAME}" to read it from the environment`
	tests := []struct {
		name string
		in   string
		want string // the one problem, in full or (ending in "...") its beginning
	}{
		{
			name: "admin_placeholder_all_interfaces",
			in:   "listen: :8080\nadmin:\n  listen: 0.0.0.0:9090\n  token: Change-Me\n",
			want: "moat.yaml:4: admin.token: the token is a well-known placeholder, and admin.listen 0.0.0.0:9090 " + notLoopback,
		},
		{
			name: "admin_placeholder_long",
			in:   "admin:\n  listen: :9090\n  token: please-change-me-before-deploying\n",
			want: "moat.yaml:3: admin.token: the token is a placeholder to replace, and admin.listen :9090 " + notLoopback,
		},
		{
			name: "admin_short_token_ipv6",
			in:   "admin: {listen: '[::]:9090', token: 0123456789abcde}\n",
			want: "moat.yaml:1: admin.token: the token has 15 bytes, fewer than 16, and admin.listen [::]:9090 " + notLoopback,
		},
		{
			name: "admin_short_token_from_env",
			in:   "admin:\n  listen: 10.0.0.1:9090\n  token: ${TOKEN}\n",
			want: "moat.yaml:3: admin.token: the token has 4 bytes, fewer than 16, and admin.listen 10.0.0.1:9090 " + notLoopback,
		},
		{
			name: "admin_low_entropy_token",
			in:   "admin:\n  listen: admin.internal:9090\n  token: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\n",
			want: "moat.yaml:3: admin.token: the token uses only 2 distinct characters, and admin.listen admin.internal:9090 " + notLoopback,
		},
		{
			name: "trusted_from_everyone_v4",
			in:   "auth:\n  trusted_header:\n    header: X-Tier\n    from:\n      - 10.0.0.0/8\n      - 0.0.0.0/0\n",
			want: "moat.yaml:6: auth.trusted_header.from[1]: 0.0.0.0/0 trusts every address: any client could send X-Tier and claim any tier; list only the proxies that set it",
		},
		{
			name: "trusted_from_everyone_v6",
			in:   "auth:\n  trusted_header: {header: X-Tier, from: ['::/0']}\n",
			want: "moat.yaml:2: auth.trusted_header.from[0]: ::/0 trusts every address: ...",
		},
		{
			name: "trusted_from_every_mapped_v4",
			in:   "auth:\n  trusted_header: {header: X-Tier, from: ['::ffff:0.0.0.0/96']}\n",
			want: "moat.yaml:2: auth.trusted_header.from[0]: ::ffff:0.0.0.0/96 trusts every address: ...",
		},
		{
			name: "trusted_from_any_prefix_zero",
			in:   "auth:\n  trusted_header: {header: X-Tier, from: [10.1.2.3/0]}\n",
			want: "moat.yaml:2: auth.trusted_header.from[0]: 10.1.2.3/0 trusts every address: ...",
		},
		{
			name: "strip_headers_not_a_name",
			in:   "security:\n  strip_headers:\n    - X-Host\n    - 'X Original URL'\n",
			want: `moat.yaml:4: security.strip_headers[1]: "X Original URL" is not a header field name`,
		},
		{
			name: "client_body_timeout_zero",
			in:   "security:\n  client_body_timeout: 0s\n",
			want: "moat.yaml:2: security.client_body_timeout: must be positive (default 30s), got 0s",
		},
		{
			name: "vary_underscore",
			in:   "routes:\n  - match: GET /a\n    vary: [X_Device]\n",
			want: `moat.yaml:3: routes[0].vary[0]: X_Device contains "_": such fields are dropped from every request, so the route would never vary on it; ` +
				`use a name with '-' or set security.allow_underscore_headers: true`,
		},
		{
			name: "auth_header_underscore",
			in:   "auth:\n  api_keys:\n    header: X_API_Key\n    keys: {acme: {key: 0123456789abcdef0123, tier: anonymous}}\n",
			want: `moat.yaml:3: auth.api_keys.header: X_API_Key contains "_": such fields are dropped from every request, so no request would carry it; ...`,
		},
		{
			name: "tags_max_index_negative",
			in:   "tags:\n  max_index: -1\n",
			want: "moat.yaml:2: tags.max_index: must not be negative (0: no separate cap, the index is bounded by cache.memory), got -1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseErrors(t, tt.in, map[string]string{"TOKEN": "abcd"})
			if len(got) != 1 || !matches(got[0], tt.want) {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), tt.want)
			}
		})
	}
}

// matches reports whether got is want or, for a want ending in "...", starts with the rest.
func matches(got, want string) bool {
	if prefix, ok := strings.CutSuffix(want, "..."); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == want
}

func TestSecurityAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{"admin_strong_token_all_interfaces", "admin: {listen: ':9090', token: 9f2c4e7a1b3d5f60a8c2e4b6d8f0a1c3}\n"},
		{"admin_placeholder_on_loopback", "admin: {listen: '127.0.0.1:9090', token: change-me}\n"},
		{"admin_short_on_localhost", "admin: {listen: 'localhost:9090', token: abc}\n"},
		{"admin_short_on_ipv6_loopback", "admin: {listen: '[::1]:9090', token: abc}\n"},
		{"trusted_from_narrow", "auth:\n  trusted_header: {header: X-Tier, from: [10.0.0.0/8, '::1', 192.0.2.7]}\n"},
		{"underscores_allowed", "security: {allow_underscore_headers: true}\nroutes:\n  - match: GET /a\n    vary: [X_Device]\n"},
		{"max_index_positive", "tags: {max_index: 5000}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := Parse([]byte(tt.in), "moat.yaml"); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestSecuritySection(t *testing.T) {
	t.Parallel()
	in := "security:\n  strip_headers: [X-Debug-Route, X-Original-URL]\n  allow_underscore_headers: true\n  client_body_timeout: 5s\n"
	c, err := Parse([]byte(in), "moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Security
	if got, want := strings.Join(s.StripHeaders, " "), "X-Debug-Route X-Original-URL"; got != want {
		t.Errorf("strip_headers = %q, want %q (a list replaces the default)", got, want)
	}
	if !s.AllowUnderscoreHeaders {
		t.Errorf("allow_underscore_headers = false, want true")
	}
	if got := s.ClientBodyTimeout.D(); got != 5*time.Second {
		t.Errorf("client_body_timeout = %v, want 5s", got)
	}
	c, err = Parse([]byte("security:\n  strip_headers: []\n"), "moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Security.StripHeaders) != 0 {
		t.Errorf("strip_headers: [] = %q, want nothing stripped", c.Security.StripHeaders)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string // every warning, in full or (ending in "...") its beginning
	}{
		{
			name: "none",
			in: "admin: {listen: 127.0.0.1:9090, token: 9f2c4e7a1b3d5f60a8c2e4b6d8f0a1c3}\nkeys: {tracking_params: ['ref_*', '[^a]*', 's?d']}\n" +
				"routes:\n  - match: GET /a\n    ttl: 30d\n    override_origin: true\n  - match: GET /b\n    cache: false\n",
		},
		{
			name: "admin_placeholder_on_loopback",
			in:   "admin:\n  listen: 127.0.0.1:9090\n  token: CHANGEME\n",
			want: []string{`moat.yaml:3: admin.token: warning: the token is a well-known placeholder: any local user or process could purge the cache and list its keys; ` +
				`use at least 16 random bytes (e.g. openssl rand -hex 32), or "${NAME}" to read it from the environment`},
		},
		{
			name: "admin_short_on_localhost",
			in:   "admin: {listen: 'localhost:9090', token: s3cr3t-t0k3n}\n",
			want: []string{"moat.yaml:1: admin.token: warning: the token has 12 bytes, fewer than 16: any local user or process ..."},
		},
		{
			name: "tracking_params_match_everything",
			in:   "keys:\n  tracking_params:\n    - ref_*\n    - '*'\n    - '?*'\n    - '**'\n    - '[^a]*'\n",
			want: []string{
				`moat.yaml:4: keys.tracking_params[1]: warning: "*" matches every parameter name: every query parameter would be dropped ` +
					`(except those a route's params.allow lists), so the origin would never see a query; list the tracking parameters by name or prefix (e.g. ref_*)`,
				`moat.yaml:5: keys.tracking_params[2]: warning: "?*" matches every parameter name: ...`,
				`moat.yaml:6: keys.tracking_params[3]: warning: "**" matches every parameter name: ...`,
			},
		},
		{
			name: "credentials_with_override_origin",
			in:   "routes:\n  - match: GET /a\n    ttl: 5m\n    override_origin: true\n    allow_credentials: true\n",
			want: []string{"moat.yaml:5: routes[0].allow_credentials: warning: with override_origin, moat chooses how long a response to a request with credentials stays fresh, " +
				"and serves it to every client; use scope: tier or scope: user unless the route's responses are the same for everyone"},
		},
		{
			name: "credentials_with_set_cookie",
			in:   "routes:\n  - match: GET /a\n    allow_set_cookie: true\n    allow_credentials: true\n",
			want: []string{"moat.yaml:3: routes[0].allow_set_cookie: warning: with allow_credentials, a response that sets a cookie for a client with credentials is stored ..."},
		},
		{
			name: "scope_without_cache",
			in:   jwtAuth + "routes:\n  - match: GET /a\n    scope: user\n    cache: false\n  - match: GET /b\n    cache: false\n    scope: tier\n",
			want: []string{
				"moat.yaml:5: routes[0].scope: warning: scope user has no effect with cache: false (the route bypasses the cache)",
				"moat.yaml:9: routes[1].scope: warning: scope tier has no effect with cache: false (the route bypasses the cache)",
			},
		},
		{
			name: "downstream_public_on_user_scope",
			in:   jwtAuth + "routes:\n  - match: GET /me\n    scope: user\n    ttl: 10s\n    downstream: {max_age: 10s, s_maxage: 10s}\n",
			want: []string{"moat.yaml:7: routes[0].downstream: warning: public or s_maxage on a scope user route lets shared caches in front of moat (CDNs, proxies) " +
				"store one user's response and serve it to others, as they do not key on moat's scope; use private, or no s_maxage"},
		},
		{
			name: "long_ttls",
			in:   "volatility:\n  archive: {ttl: 90d}\n  static: {ttl: 31d}\nroutes:\n  - match: GET /a\n    ttl: 720h1s\n",
			want: []string{
				"moat.yaml:2: volatility.archive.ttl: warning: 2160h (90 days) is more than 30 days: a wrong or outdated response would be served that long " +
					"unless it is purged; prefer a shorter ttl with stale_while_revalidate",
				"moat.yaml:3: volatility.static.ttl: warning: 744h (31 days) is more than 30 days: ...",
				"moat.yaml:6: routes[0].ttl: warning: 720h0m1s (30 days) is more than 30 days: ...",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.in), "moat.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got []string
			for _, w := range c.Warnings() {
				if !w.Warning {
					t.Errorf("%v: Warning = false", w)
				}
				got = append(got, w.Error())
			}
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				ok = matches(got[i], tt.want[i])
			}
			if !ok {
				t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// A config built in code has no lines; warnings about a route fall back to its Line.
func TestWarningsBuiltInConfig(t *testing.T) {
	t.Parallel()
	c := Default()
	no := false
	c.Routes = []Route{{Match: "GET /a", Cache: &no, Scope: "user", Line: 7}}
	got := c.Warnings()
	want := "config:7: routes[0].scope: warning: scope user has no effect with cache: false (the route bypasses the cache)"
	if len(got) != 1 || got[0].Error() != want {
		t.Errorf("got %v, want %q", got, want)
	}
}

func TestIsLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr string
		want bool
	}{
		{"127.0.0.1:9090", true},
		{"127.1.2.3:9090", true},
		{"[::1]:9090", true},
		{"[::ffff:127.0.0.1]:9090", true},
		{"localhost:9090", true},
		{"LocalHost.:9090", true},
		{":9090", false},
		{"0.0.0.0:9090", false},
		{"[::]:9090", false},
		{"10.0.0.1:9090", false},
		{"admin.internal:9090", false},
		{"localhost.example.com:9090", false},
		{"nonsense", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := isLoopback(tt.addr); got != tt.want {
				t.Errorf("isLoopback(%q) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}
