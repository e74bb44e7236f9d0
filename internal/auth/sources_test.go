package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	rawKey     = "k3y-for-acme-0123456789"
	digestKey  = "another-key-for-globex-0123"
	partnerKey = "partner-key-initech-abcdef"
)

func digestOf(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func apiKeyConfig() Config {
	return Config{Tiers: tiers4, APIKeys: &APIKeysConfig{Keys: map[string]APIKey{
		"acme":    {Key: rawKey, Tier: "premium"},
		"globex":  {Key: digestOf(digestKey), Tier: "free"},
		"initech": {Key: strings.ToUpper(digestOf(partnerKey)[:7]) + strings.ToUpper(digestOf(partnerKey)[7:]), Tier: "admin", Subject: "initech-ops"},
	}}}
}

func TestResolveAPIKey(t *testing.T) {
	custom := apiKeyConfig()
	custom.APIKeys.Header = "x-partner-key"
	tests := []struct {
		name   string
		cfg    Config
		header []string
		want   Identity
	}{
		{"raw_key", apiKeyConfig(), []string{"X-API-Key", rawKey}, valid("premium", "acme", SourceAPIKey)},
		{"digest_key", apiKeyConfig(), []string{"X-API-Key", digestKey}, valid("free", "globex", SourceAPIKey)},
		{"upper_case_digest_and_subject", apiKeyConfig(), []string{"X-API-Key", partnerKey}, valid("admin", "initech-ops", SourceAPIKey)},
		{"custom_header", custom, []string{"X-Partner-Key", rawKey}, valid("premium", "acme", SourceAPIKey)},
		{"wrong_key", apiKeyConfig(), []string{"X-API-Key", rawKey + "x"}, rejectedBy(SourceAPIKey, ReasonUnknownAPIKey)},
		{"digest_is_not_the_key", apiKeyConfig(), []string{"X-API-Key", digestOf(digestKey)}, rejectedBy(SourceAPIKey, ReasonUnknownAPIKey)},
		{"empty_key", apiKeyConfig(), []string{"X-API-Key", ""}, rejectedBy(SourceAPIKey, ReasonUnknownAPIKey)},
		{"duplicate_header", apiKeyConfig(), []string{"X-API-Key", rawKey, "X-API-Key", digestKey}, rejectedBy(SourceAPIKey, ReasonDuplicate)},
		{"no_key", apiKeyConfig(), nil, anonymous},
		{"authorization_unverified", apiKeyConfig(), []string{"Authorization", "Bearer x"}, rejectedBy("", ReasonUnverified)},
		{"authorization_beside_valid_key", apiKeyConfig(), []string{"Authorization", "Bearer x", "X-API-Key", rawKey}, valid("premium", "acme", SourceAPIKey)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustNew(t, tt.cfg).Resolve(request("198.51.100.1:1", tt.header...))
			checkIdentity(t, got, tt.want)
		})
	}
}

func TestResolveTrustedHeader(t *testing.T) {
	cfg := Config{Tiers: tiers4, TrustedHeader: &TrustedHeaderConfig{
		Header: "X-User-Tier", SubjectHeader: "X-User-Id",
		From: []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "::ffff:172.16.0.0/108"},
	}}
	tier := func(v string) []string { return []string{"X-User-Tier", v} }
	tests := []struct {
		name   string
		peer   string
		header []string
		want   Identity
	}{
		{"ipv4_cidr", "10.1.2.3:5555", tier("premium"), valid("premium", "", SourceTrustedHeader)},
		{"ipv4_single", "192.0.2.7:1", tier("free"), valid("free", "", SourceTrustedHeader)},
		{"ipv4_neighbour", "192.0.2.8:1", tier("free"), rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"ipv4_outside_cidr", "11.0.0.1:1", tier("admin"), rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"ipv6_cidr", "[2001:db8::5]:443", tier("premium"), valid("premium", "", SourceTrustedHeader)},
		{"ipv6_outside_cidr", "[2001:db9::1]:443", tier("premium"), rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"ipv6_loopback", "[::1]:80", tier("admin"), valid("admin", "", SourceTrustedHeader)},
		{"ipv6_zone", "[::1%lo]:80", tier("admin"), valid("admin", "", SourceTrustedHeader)},
		{"ipv4_mapped_peer", "[::ffff:10.0.0.1]:80", tier("premium"), valid("premium", "", SourceTrustedHeader)},
		{"ipv4_mapped_config", "172.16.3.4:80", tier("premium"), valid("premium", "", SourceTrustedHeader)},
		{"ipv4_loopback_not_listed", "127.0.0.1:80", tier("admin"), rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"peer_without_port", "10.0.0.9", tier("free"), valid("free", "", SourceTrustedHeader)},
		{"unix_socket_peer", "@", tier("free"), rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"no_peer", "", tier("free"), rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"forwarded_for_is_ignored", "203.0.113.9:1", []string{"X-User-Tier", "admin", "X-Forwarded-For", "10.0.0.1", "X-Real-Ip", "10.0.0.1"}, rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"subject", "10.0.0.1:1", []string{"X-User-Tier", "premium", "X-User-Id", "u42"}, valid("premium", "u42", SourceTrustedHeader)},
		{"subject_alone", "10.0.0.1:1", []string{"X-User-Id", "u42"}, rejectedBy(SourceTrustedHeader, ReasonMissingTier)},
		{"subject_alone_untrusted", "203.0.113.9:1", []string{"X-User-Id", "u42"}, rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"unknown_tier", "10.0.0.1:1", tier("platinum"), rejectedBy(SourceTrustedHeader, ReasonUnknownTier)},
		{"empty_tier", "10.0.0.1:1", tier(""), rejectedBy(SourceTrustedHeader, ReasonUnknownTier)},
		{"duplicate_tier", "10.0.0.1:1", []string{"X-User-Tier", "free", "X-User-Tier", "admin"}, rejectedBy(SourceTrustedHeader, ReasonDuplicate)},
		{"no_header_untrusted_peer", "203.0.113.9:1", nil, anonymous},
	}
	r := mustNew(t, cfg)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkIdentity(t, r.Resolve(request(tt.peer, tt.header...)), tt.want)
		})
	}
}

// TestPrecedence covers requests carrying credentials for several sources.
func TestPrecedence(t *testing.T) {
	cfg := apiKeyConfig()
	cfg.JWT = &JWTConfig{HS256Secret: testSecret}
	cfg.TrustedHeader = &TrustedHeaderConfig{Header: "X-User-Tier", SubjectHeader: "X-User-Id", From: []string{"10.0.0.0/8"}}
	r := mustNew(t, cfg)
	tok := func(tier, sub string) string {
		return bearer(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims(tier, sub), ""))
	}
	expired := bearer(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims("premium", "acme", "exp", now.Add(-time.Hour).Unix()), ""))
	tests := []struct {
		name   string
		peer   string
		header []string
		want   Identity
	}{
		{"jwt_and_key_agree", "203.0.113.1:1", []string{"Authorization", tok("premium", "acme"), "X-API-Key", rawKey}, valid("premium", "acme", SourceJWT)},
		{"jwt_and_key_differ_in_tier", "203.0.113.1:1", []string{"Authorization", tok("admin", "acme"), "X-API-Key", rawKey}, rejectedBy(SourceJWT, ReasonConflict)},
		{"jwt_and_key_differ_in_subject", "203.0.113.1:1", []string{"Authorization", tok("premium", "u1"), "X-API-Key", rawKey}, rejectedBy(SourceJWT, ReasonConflict)},
		{"expired_jwt_with_valid_key", "203.0.113.1:1", []string{"Authorization", expired, "X-API-Key", rawKey}, rejectedBy(SourceJWT, ReasonExpired)},
		{"valid_jwt_with_wrong_key", "203.0.113.1:1", []string{"Authorization", tok("premium", "acme"), "X-API-Key", "nope"}, rejectedBy(SourceAPIKey, ReasonUnknownAPIKey)},
		{"key_and_trusted_header_agree", "10.0.0.1:1", []string{"X-API-Key", rawKey, "X-User-Tier", "premium", "X-User-Id", "acme"}, valid("premium", "acme", SourceAPIKey)},
		{"key_and_trusted_header_differ", "10.0.0.1:1", []string{"X-API-Key", rawKey, "X-User-Tier", "free", "X-User-Id", "acme"}, rejectedBy(SourceAPIKey, ReasonConflict)},
		{"valid_key_with_forged_header", "203.0.113.1:1", []string{"X-API-Key", rawKey, "X-User-Tier", "admin"}, rejectedBy(SourceTrustedHeader, ReasonUntrustedPeer)},
		{"trusted_header_with_bad_jwt", "10.0.0.1:1", []string{"Authorization", "Basic eDp5", "X-User-Tier", "free"}, rejectedBy(SourceJWT, ReasonNotBearer)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkIdentity(t, r.Resolve(request(tt.peer, tt.header...)), tt.want)
		})
	}
}

// TestAuthorizationWithoutJWT: an Authorization header no source reads is credentials.
func TestAuthorizationWithoutJWT(t *testing.T) {
	trusted := Config{Tiers: tiers4, TrustedHeader: &TrustedHeaderConfig{Header: "X-User-Tier", From: []string{"10.0.0.0/8"}}}
	otherHeader := Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret, Header: "X-Token"}}
	tests := []struct {
		name   string
		cfg    Config
		header []string
		want   Identity
	}{
		{"zero_config", Config{}, []string{"Authorization", "Bearer abc"}, rejectedBy("", ReasonUnverified)},
		{"zero_config_anonymous", Config{}, nil, anonymous},
		{"zero_config_other_headers", Config{}, []string{"X-API-Key", "abc", "Cookie", "s=1"}, anonymous},
		{"trusted_upstream_forwards_token", trusted, []string{"Authorization", "Bearer abc", "X-User-Tier", "premium"}, valid("premium", "", SourceTrustedHeader)},
		{"trusted_config_token_alone", trusted, []string{"Authorization", "Bearer abc"}, rejectedBy("", ReasonUnverified)},
		{"jwt_on_other_header", otherHeader, []string{"Authorization", "Bearer abc"}, rejectedBy("", ReasonUnverified)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkIdentity(t, mustNew(t, tt.cfg).Resolve(request("10.0.0.1:1", tt.header...)), tt.want)
		})
	}
}
