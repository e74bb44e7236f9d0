package auth

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func benchResolve(b *testing.B, r *Resolver, req *http.Request, wantValid bool) {
	b.Helper()
	if id := r.Resolve(req); id.Valid != wantValid {
		b.Fatalf("Resolve = %+v, want Valid=%v", id, wantValid)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Resolve(req)
	}
}

// BenchmarkResolveHS256 is the common hit-path case: a valid HS256 bearer token.
func BenchmarkResolveHS256(b *testing.B) {
	r := mustNew(b, Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret}})
	tok := sign(b, jwt.SigningMethodHS256, []byte(testSecret), claims("premium", "user-12345"), "")
	benchResolve(b, r, request("192.0.2.1:1", "Authorization", bearer(tok)), true)
}

func BenchmarkResolveHS256Forged(b *testing.B) {
	r := mustNew(b, Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret}})
	tok := sign(b, jwt.SigningMethodHS256, []byte(testSecret), claims("premium", "user-12345"), "")
	benchResolve(b, r, request("192.0.2.1:1", "Authorization", bearer(flipSignature(tok))), false)
}

func BenchmarkResolvePublicKey(b *testing.B) {
	k := keys()
	for _, tt := range []struct {
		name   string
		pub    any
		method jwt.SigningMethod
		priv   any
	}{
		{"RS256", &k.rsa.PublicKey, jwt.SigningMethodRS256, k.rsa},
		{"ES256", &k.ec.PublicKey, jwt.SigningMethodES256, k.ec},
		{"EdDSA", k.ed.Public(), jwt.SigningMethodEdDSA, k.ed},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r := mustNew(b, Config{Tiers: tiers4, JWT: &JWTConfig{PublicKeyFile: writeFile(b, "k.pem", pkixPEM(b, tt.pub))}})
			tok := sign(b, tt.method, tt.priv, claims("premium", "user-12345"), "")
			benchResolve(b, r, request("192.0.2.1:1", "Authorization", bearer(tok)), true)
		})
	}
}

func BenchmarkResolveAnonymous(b *testing.B) {
	cfg := apiKeyConfig()
	cfg.JWT = &JWTConfig{HS256Secret: testSecret}
	cfg.TrustedHeader = &TrustedHeaderConfig{Header: "X-User-Tier", From: []string{"10.0.0.0/8"}}
	benchResolve(b, mustNew(b, cfg), request("192.0.2.1:1", "Accept", "application/json"), false)
}

func BenchmarkResolveAPIKey(b *testing.B) {
	benchResolve(b, mustNew(b, apiKeyConfig()), request("192.0.2.1:1", "X-API-Key", rawKey), true)
}

func BenchmarkResolveTrustedHeader(b *testing.B) {
	r := mustNew(b, Config{Tiers: tiers4, TrustedHeader: &TrustedHeaderConfig{
		Header: "X-User-Tier", SubjectHeader: "X-User-Id", From: []string{"10.0.0.0/8", "2001:db8::/32"}}})
	benchResolve(b, r, request("10.1.2.3:40000", "X-User-Tier", "premium", "X-User-Id", "u1"), true)
}

func BenchmarkUserKey(b *testing.B) {
	r := mustNew(b, Config{UserHashKey: testSecret})
	id := Identity{Valid: true, Credentialed: true, Source: SourceJWT, Subject: "user-12345"}
	b.ReportAllocs()
	for b.Loop() {
		r.UserKey(id)
	}
}
