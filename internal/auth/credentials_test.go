package auth

import (
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// HasCredentials must say Credentialed exactly when Resolve does, for
// every source, whatever the credentials' validity.
func TestHasCredentialsAgreesWithResolve(t *testing.T) {
	full := mustNew(t, Config{
		Tiers:         tiers4,
		JWT:           &JWTConfig{HS256Secret: testSecret},
		APIKeys:       &APIKeysConfig{Keys: map[string]APIKey{"acme": {Key: "0123456789abcdef-raw-key", Tier: "premium"}}},
		TrustedHeader: &TrustedHeaderConfig{Header: "X-User-Tier", SubjectHeader: "X-User-Id", From: []string{"10.0.0.0/8"}},
	})
	noJWT := mustNew(t, Config{Tiers: tiers4})
	good := sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims("premium", "alice"), "")
	requests := map[string][]string{
		"none":                  nil,
		"valid_jwt":             {"Authorization", bearer(good)},
		"garbage_jwt":           {"Authorization", bearer("x.y.z")},
		"basic_auth":            {"Authorization", "Basic abc"},
		"api_key":               {"X-Api-Key", "0123456789abcdef-raw-key"},
		"wrong_api_key":         {"X-Api-Key", "nope"},
		"trusted_tier":          {"X-User-Tier", "free"},
		"trusted_subject_only":  {"X-User-Id", "u1"},
		"unrelated_header":      {"X-Other", "1"},
		"jwt_and_trusted_tiers": {"Authorization", bearer(good), "X-User-Tier", "free"},
	}
	for name, kv := range requests {
		for _, peer := range []string{"10.1.2.3:1234", "192.0.2.7:1234"} {
			for rname, r := range map[string]*Resolver{"full": full, "no_sources": noJWT} {
				req := request(peer, kv...)
				if got, want := r.HasCredentials(req), r.Resolve(req).Credentialed; got != want {
					t.Errorf("%s/%s from %s: HasCredentials = %v, Resolve says Credentialed = %v", rname, name, peer, got, want)
				}
			}
		}
	}
}
