package security

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moatproxy/moat/internal/config"
)

// Class: dangerous configurations. A config that would put credentials into
// keys, trust every peer, or expose the admin API with a guessable token is
// refused by validation, with FILE:LINE: KEY; one that is valid but probably
// unsafe gets a warning (Config.Warnings) at the line of its key. Every case
// goes through config.Load, the path `moat serve` and `moat validate` take.

// configCase is a config body whose offending line ends with "# <-".
type configCase struct {
	name, rule, key, yaml string
}

// load writes the case's config to a file (with a valid origin), loads it,
// and returns the file name, the line marked "# <-" and the result.
func load(t *testing.T, body string) (string, int, *config.Config, error) {
	t.Helper()
	text := "origin:\n  url: http://127.0.0.1:9\n" + strings.TrimLeft(body, "\n")
	line := 0
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, "# <-") {
			line = i + 1
		}
	}
	if line == 0 {
		t.Fatal("case without a line marked # <-")
	}
	path := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.ValidateServe()
	}
	return path, line, cfg, err
}

const jwtAuth = `auth:
  tiers: [anonymous, premium]
  jwt: {hs256_secret: "` + jwtSecret + `"}
`

func TestConfigsRefused(t *testing.T) {
	cases := []configCase{
		{"vary_authorization", "a route never varies on a credential: it would enter keys", "routes[0].vary[0]", jwtAuth + `routes:
  - match: GET /a
    vary:
      - Authorization # <-
`},
		{"vary_authorization_lower_case", "field names are case-insensitive", "routes[0].vary[0]", jwtAuth + `routes:
  - match: GET /a
    vary: [authorization] # <-
`},
		{"vary_api_key_header", "the API key field is a credential", "routes[0].vary[1]", `auth:
  tiers: [anonymous, premium]
  api_keys:
    keys: {k: {key: "` + premiumKey + `", tier: premium}}
routes:
  - match: GET /a
    vary: [Accept, X-API-Key] # <-
`},
		{"vary_default_api_key_header_without_api_keys", "X-API-Key is a credential even when no api_keys section reads it", "routes[0].vary[0]", `routes:
  - match: GET /a
    vary: [X-Api-Key] # <-
`},
		{"vary_custom_api_key_header", "a configured API key field is a credential", "routes[0].vary[0]", `auth:
  tiers: [anonymous, premium]
  api_keys:
    header: X-Partner-Key
    keys: {k: {key: "` + premiumKey + `", tier: premium}}
routes:
  - match: GET /a
    vary: [X-Partner-Key] # <-
`},
		{"vary_custom_jwt_header", "a configured JWT field is a credential", "routes[0].vary[0]", `auth:
  tiers: [anonymous, premium]
  jwt: {hs256_secret: "` + jwtSecret + `", header: X-Token}
routes:
  - match: GET /a
    vary: [X-Token] # <-
`},
		{"vary_trusted_tier_header", "the trusted tier field is a credential", "routes[0].vary[0]", `auth:
  tiers: [anonymous, premium]
  trusted_header: {header: X-User-Tier, subject_header: X-User-Id, from: [10.0.0.0/8]}
routes:
  - match: GET /a
    vary: [X-User-Tier] # <-
`},
		{"vary_trusted_subject_header", "the trusted subject field is a credential", "routes[0].vary[0]", `auth:
  tiers: [anonymous, premium]
  trusted_header: {header: X-User-Tier, subject_header: X-User-Id, from: [10.0.0.0/8]}
routes:
  - match: GET /a
    vary: [X-User-Id] # <-
`},
		{"vary_cookie", "a session cookie is a credential", "routes[0].vary[0]", `routes:
  - match: GET /a
    vary: [Cookie] # <-
`},
		{"vary_proxy_authorization", "Proxy-Authorization is a credential", "routes[0].vary[0]", `routes:
  - match: GET /a
    vary: [Proxy-Authorization] # <-
`},
		{"trusted_from_every_ipv4", "a trusted header trusted from everyone is a forgery waiting to happen", "auth.trusted_header.from[0]", `auth:
  tiers: [anonymous, premium]
  trusted_header:
    header: X-User-Tier
    from:
      - 0.0.0.0/0 # <-
`},
		{"trusted_from_every_ipv6", "the same for IPv6", "auth.trusted_header.from[1]", `auth:
  tiers: [anonymous, premium]
  trusted_header:
    header: X-User-Tier
    from:
      - 10.0.0.0/8
      - "::/0" # <-
`},
		{"trusted_from_every_mapped_ipv4", "IPv4-mapped ::ffff:0:0/96 is every IPv4 peer", "auth.trusted_header.from[0]", `auth:
  tiers: [anonymous, premium]
  trusted_header:
    header: X-User-Tier
    from:
      - "::ffff:0.0.0.0/96" # <-
`},
		{"admin_placeholder_token_on_public_listener", "a guessable admin token on a reachable listener is refused", "admin.token", `admin:
  listen: 0.0.0.0:0
  token: changeme # <-
`},
		{"admin_short_token_on_public_listener", "a short admin token on a reachable listener is refused", "admin.token", `admin:
  listen: ":0"
  token: abc123xyz # <-
`},
		{"admin_listener_without_token", "an admin listener always needs a token", "admin.token", `admin:
  listen: 127.0.0.1:0 # <-
`},
		{"hs256_secret_too_short", "an HS256 secret of fewer than 32 bytes is refused (RFC 7518 §3.2)", "auth.jwt.hs256_secret", `auth:
  tiers: [anonymous, premium]
  jwt:
    hs256_secret: short-secret # <-
`},
		{"underscore_credential_header", "a credential field with '_' would be dropped from every request", "auth.api_keys.header", `auth:
  tiers: [anonymous, premium]
  api_keys:
    header: X_API_Key # <-
    keys: {k: {key: "` + premiumKey + `", tier: premium}}
`},
		{"strip_headers_bad_name", "strip_headers holds field names", "security.strip_headers[0]", `security:
  strip_headers:
    - "X Bad" # <-
`},
		{"client_body_timeout_zero", "a request body always has a read timeout", "security.client_body_timeout", `security:
  client_body_timeout: 0s # <-
`},
		{"scope_tier_without_auth", "a tier route needs a verified source of tiers", "routes[0].scope", `routes:
  - match: GET /a
    scope: tier # <-
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rule: see c.rule; refused with FILE:LINE: KEY.
			path, line, _, err := load(t, c.yaml)
			if err == nil {
				t.Fatalf("accepted; want it refused (%s)", c.rule)
			}
			if want := fmt.Sprintf("%s:%d: %s:", path, line, c.key); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q\nlacks %q", err, want)
			}
		})
	}
}

func TestConfigsWarned(t *testing.T) {
	cases := []configCase{
		{"admin_placeholder_token_on_loopback", "a guessable admin token is a warning even on loopback", "admin.token", `admin:
  listen: 127.0.0.1:0
  token: changeme # <-
`},
		{"allow_credentials_with_override_origin", "moat would choose the lifetime of credentialed answers and share them", "routes[0].allow_credentials", `routes:
  - match: GET /a
    ttl: 1m
    override_origin: true
    allow_credentials: true # <-
`},
		{"allow_credentials_with_set_cookie", "a credentialed client's cookie-setting answer would be shared", "routes[0].allow_set_cookie", `routes:
  - match: GET /a
    allow_credentials: true
    allow_set_cookie: true # <-
`},
		{"downstream_public_on_tier_route", "a CDN in front would share one tier's answer with all", "routes[0].downstream", jwtAuth + `routes:
  - match: GET /a
    scope: tier
    downstream: {max_age: 60s, public: true} # <-
`},
		{"tracking_params_match_everything", "a tracking pattern that strips every parameter", "keys.tracking_params[0]", `keys:
  tracking_params:
    - "*" # <-
`},
		{"strip_headers_empty", "strip_headers: [] forwards every unkeyed override field", "security.strip_headers", `security:
  strip_headers: [] # <-
`},
		{"underscore_headers_allowed", "underscore fields reach origins that fold '_' into '-'", "security.allow_underscore_headers", `security:
  allow_underscore_headers: true # <-
`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rule: see c.rule; accepted, with a warning at FILE:LINE: KEY.
			path, line, cfg, err := load(t, c.yaml)
			if err != nil {
				t.Fatalf("refused (%v); want a warning only", err)
			}
			want := fmt.Sprintf("%s:%d: %s: warning:", path, line, c.key)
			var got []string
			for _, w := range cfg.Warnings() {
				got = append(got, w.Error())
				if strings.HasPrefix(w.Error(), want) {
					return
				}
			}
			t.Errorf("no warning %q (%s); got %q", want, c.rule, got)
		})
	}
	t.Run("safe_config_has_no_warnings", func(t *testing.T) {
		// rule: warnings are about danger, not noise: a careful config has
		// none.
		_, _, cfg, err := load(t, jwtAuth+`admin:
  listen: 127.0.0.1:0
  token: "`+adminToken+`"
routes: # <-
  - match: GET /a
    ttl: 1m
    scope: tier
`)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range cfg.Warnings() {
			t.Errorf("unexpected warning: %v", w)
		}
	})
}
