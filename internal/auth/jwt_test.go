package auth

import (
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func rejectedBy(source, reason string) Identity {
	return Identity{TierIndex: -1, Credentialed: true, Source: source, Reason: reason}
}

// flipSignature changes one character in the middle of a token's signature, keeping it valid
// base64url, so that only the signature check can fail.
func flipSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 5
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func TestResolveJWT(t *testing.T) {
	k := keys()
	rsaPEM := writeFile(t, "rsa.pem", pkixPEM(t, &k.rsa.PublicKey))
	ecPEM := writeFile(t, "ec.pem", pkixPEM(t, &k.ec.PublicKey))
	edPEM := writeFile(t, "ed.pem", pkixPEM(t, k.ed.Public()))

	hs := Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret}}
	rs := Config{Tiers: tiers4, JWT: &JWTConfig{PublicKeyFile: rsaPEM}}
	es := Config{Tiers: tiers4, JWT: &JWTConfig{PublicKeyFile: ecPEM}}
	ed := Config{Tiers: tiers4, JWT: &JWTConfig{PublicKeyFile: edPEM}}
	issAud := Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret, Issuer: "https://idp.example", Audience: "moat"}}
	custom := Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret, TierClaim: "plan", SubjectClaim: "uid", Header: "X-Token"}}
	hsAndRS := Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret, PublicKeyFile: rsaPEM}}

	hsTok := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, []byte(testSecret), c, "") }
	rsaPubPEM := pkixPEM(t, &k.rsa.PublicKey)
	noneTok := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims("premium", "u1"), "")
	const leeway = DefaultLeeway

	tests := []struct {
		name   string
		cfg    Config
		header []string
		want   Identity
	}{
		{"hs256_valid", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1")))}, valid("premium", "u1", SourceJWT)},
		{"hs256_no_subject", hs, []string{"Authorization", bearer(hsTok(claims("free", "")))}, valid("free", "", SourceJWT)},
		{"hs256_anonymous_tier_claim", hs, []string{"Authorization", bearer(hsTok(claims("anonymous", "u1")))}, valid("anonymous", "u1", SourceJWT)},
		{"bearer_scheme_case_insensitive", hs, []string{"Authorization", "bEaReR " + hsTok(claims("admin", "u1"))}, valid("admin", "u1", SourceJWT)},
		{"rs256_valid", rs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claims("premium", "u1"), ""))}, valid("premium", "u1", SourceJWT)},
		{"rs256_with_kid_matches_pem_key", rs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claims("premium", "u1"), "any"))}, valid("premium", "u1", SourceJWT)},
		{"es256_valid", es, []string{"Authorization", bearer(sign(t, jwt.SigningMethodES256, k.ec, claims("free", "u2"), ""))}, valid("free", "u2", SourceJWT)},
		{"eddsa_valid", ed, []string{"Authorization", bearer(sign(t, jwt.SigningMethodEdDSA, k.ed, claims("admin", "u3"), ""))}, valid("admin", "u3", SourceJWT)},

		{"forged_signature", hs, []string{"Authorization", bearer(flipSignature(hsTok(claims("premium", "u1"))))}, rejectedBy(SourceJWT, ReasonBadSignature)},
		{"hs256_other_secret", hs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("x", 32)), claims("premium", "u1"), ""))}, rejectedBy(SourceJWT, ReasonBadSignature)},
		{"rs256_other_key", rs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodRS256, k.rsaOther, claims("premium", "u1"), ""))}, rejectedBy(SourceJWT, ReasonBadSignature)},
		{"es256_other_key", es, []string{"Authorization", bearer(sign(t, jwt.SigningMethodES256, k.ecOther, claims("premium", "u1"), ""))}, rejectedBy(SourceJWT, ReasonBadSignature)},
		{"eddsa_other_key", ed, []string{"Authorization", bearer(sign(t, jwt.SigningMethodEdDSA, k.edOther, claims("premium", "u1"), ""))}, rejectedBy(SourceJWT, ReasonBadSignature)},
		{"rs256_payload_swapped", rs, []string{"Authorization", bearer(swapPayload(
			sign(t, jwt.SigningMethodRS256, k.rsa, claims("free", "u1"), ""),
			sign(t, jwt.SigningMethodRS256, k.rsaOther, claims("admin", "u1"), "")))}, rejectedBy(SourceJWT, ReasonBadSignature)},

		{"alg_none", hs, []string{"Authorization", bearer(noneTok)}, rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
		{"alg_none_with_public_key", rs, []string{"Authorization", bearer(noneTok)}, rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
		{"alg_confusion_hs256_with_rsa_public_key", rs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodHS256, rsaPubPEM, claims("admin", "u1"), ""))}, rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
		{"alg_confusion_with_secret_configured_too", hsAndRS, []string{"Authorization", bearer(sign(t, jwt.SigningMethodHS256, rsaPubPEM, claims("admin", "u1"), ""))}, rejectedBy(SourceJWT, ReasonBadSignature)},
		{"rs256_token_to_hs_only", hs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodRS256, k.rsa, claims("premium", "u1"), ""))}, rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
		{"rs384_not_pinned_for_pem_rsa", rs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodRS384, k.rsa, claims("premium", "u1"), ""))}, rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
		{"hs512_not_allowed", hs, []string{"Authorization", bearer(sign(t, jwt.SigningMethodHS512, []byte(testSecret), claims("premium", "u1"), ""))}, rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
		{"unknown_alg", hs, []string{"Authorization", bearer(withHeader(`{"alg":"XX256","typ":"JWT"}`, hsTok(claims("premium", "u1"))))}, rejectedBy(SourceJWT, ReasonAlgNotAllowed)},

		{"expired_within_leeway", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "exp", now.Add(-leeway+time.Second).Unix())))}, valid("premium", "u1", SourceJWT)},
		{"expired_at_leeway_edge", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "exp", now.Add(-leeway).Unix())))}, rejectedBy(SourceJWT, ReasonExpired)},
		{"expired_beyond_leeway", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "exp", now.Add(-time.Hour).Unix())))}, rejectedBy(SourceJWT, ReasonExpired)},
		{"nbf_within_leeway", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "nbf", now.Add(leeway).Unix())))}, valid("premium", "u1", SourceJWT)},
		{"nbf_future", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "nbf", now.Add(leeway+time.Second).Unix())))}, rejectedBy(SourceJWT, ReasonNotYetValid)},
		{"iat_future", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "iat", now.Add(time.Hour).Unix())))}, rejectedBy(SourceJWT, ReasonIssuedInFuture)},
		{"missing_exp", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "exp", nil)))}, rejectedBy(SourceJWT, ReasonMissingExpiry)},
		{"exp_not_a_number", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "exp", "tomorrow")))}, rejectedBy(SourceJWT, ReasonInvalidClaims)},

		{"iss_aud_valid", issAud, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "iss", "https://idp.example", "aud", []string{"other", "moat"})))}, valid("premium", "u1", SourceJWT)},
		{"wrong_issuer", issAud, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "iss", "https://evil.example", "aud", "moat")))}, rejectedBy(SourceJWT, ReasonWrongIssuer)},
		{"missing_issuer", issAud, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "aud", "moat")))}, rejectedBy(SourceJWT, ReasonWrongIssuer)},
		{"wrong_audience", issAud, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "iss", "https://idp.example", "aud", "other")))}, rejectedBy(SourceJWT, ReasonWrongAudience)},
		{"missing_audience", issAud, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "iss", "https://idp.example")))}, rejectedBy(SourceJWT, ReasonWrongAudience)},

		{"missing_tier_claim", hs, []string{"Authorization", bearer(hsTok(claims("", "u1")))}, rejectedBy(SourceJWT, ReasonMissingTier)},
		{"unknown_tier", hs, []string{"Authorization", bearer(hsTok(claims("platinum", "u1")))}, rejectedBy(SourceJWT, ReasonUnknownTier)},
		{"tier_case_matters", hs, []string{"Authorization", bearer(hsTok(claims("Premium", "u1")))}, rejectedBy(SourceJWT, ReasonUnknownTier)},
		{"tier_not_a_string", hs, []string{"Authorization", bearer(hsTok(claims("", "u1", "tier", 2)))}, rejectedBy(SourceJWT, ReasonUnknownTier)},
		{"subject_not_a_string", hs, []string{"Authorization", bearer(hsTok(claims("premium", "", "sub", 12345)))}, rejectedBy(SourceJWT, ReasonBadSubject)},
		{"custom_claims_and_header", custom, []string{"X-Token", hsTok(claims("", "", "plan", "premium", "uid", "u9"))}, valid("premium", "u9", SourceJWT)},
		{"custom_header_bearer_prefix", custom, []string{"X-Token", bearer(hsTok(claims("", "", "plan", "free")))}, valid("free", "", SourceJWT)},
		{"custom_claim_ignores_default", custom, []string{"X-Token", hsTok(claims("premium", "u1"))}, rejectedBy(SourceJWT, ReasonMissingTier)},

		{"basic_auth_is_credentials", hs, []string{"Authorization", "Basic dXNlcjpwYXNz"}, rejectedBy(SourceJWT, ReasonNotBearer)},
		{"bare_token_in_authorization", hs, []string{"Authorization", hsTok(claims("premium", "u1"))}, rejectedBy(SourceJWT, ReasonNotBearer)},
		{"empty_bearer", hs, []string{"Authorization", "Bearer "}, rejectedBy(SourceJWT, ReasonMalformed)},
		{"empty_authorization", hs, []string{"Authorization", ""}, rejectedBy(SourceJWT, ReasonNotBearer)},
		{"garbage_token", hs, []string{"Authorization", "Bearer not.a.jwt"}, rejectedBy(SourceJWT, ReasonMalformed)},
		{"two_segments", hs, []string{"Authorization", "Bearer abc.def"}, rejectedBy(SourceJWT, ReasonMalformed)},
		{"duplicate_authorization", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1"))), "Authorization", bearer(hsTok(claims("free", "u1")))}, rejectedBy(SourceJWT, ReasonDuplicate)},
		{"too_large", hs, []string{"Authorization", bearer(hsTok(claims("premium", "u1", "pad", strings.Repeat("x", MaxTokenBytes))))}, rejectedBy(SourceJWT, ReasonTooLarge)},
		{"no_credentials", hs, nil, anonymous},
		{"custom_header_config_other_header_absent", custom, []string{"X-Other", "1"}, anonymous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.cfg)
			got := r.Resolve(request("198.51.100.1:4000", tt.header...))
			checkIdentity(t, got, tt.want)
		})
	}
}

// swapPayload returns a's header and signature around b's payload.
func swapPayload(a, b string) string {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	return pa[0] + "." + pb[1] + "." + pa[2]
}

// withHeader replaces a token's header segment.
func withHeader(header, tok string) string {
	return b64u([]byte(header)) + tok[strings.IndexByte(tok, '.'):]
}

func TestResolveJWKS(t *testing.T) {
	k := keys()
	jwks := writeFile(t, "jwks.json", jwksJSON(t,
		jwkOf(t, &k.rsa.PublicKey, "r1"),
		jwkOf(t, &k.ec.PublicKey, "e1"),
		jwkOf(t, k.ed.Public(), "ed1"),
		map[string]string{"kty": "RSA", "kid": "enc1", "use": "enc", "n": "AQAB", "e": "AQAB"}, // skipped
	))
	withRS512 := jwkOf(t, &k.rsaOther.PublicKey, "r512")
	withRS512["alg"] = "RS512"
	jwks512 := writeFile(t, "jwks512.json", jwksJSON(t, withRS512))
	pem := writeFile(t, "fallback.pem", pkixPEM(t, &k.rsaOther.PublicKey))

	only := Config{Tiers: tiers4, JWT: &JWTConfig{JWKSFile: jwks}}
	both := Config{Tiers: tiers4, JWT: &JWTConfig{JWKSFile: jwks, PublicKeyFile: pem}}
	pinned := Config{Tiers: tiers4, JWT: &JWTConfig{JWKSFile: jwks512}}
	c := claims("premium", "u1")

	tests := []struct {
		name  string
		cfg   Config
		token string
		want  Identity
	}{
		{"kid_rsa", only, sign(t, jwt.SigningMethodRS256, k.rsa, c, "r1"), valid("premium", "u1", SourceJWT)},
		{"kid_ec", only, sign(t, jwt.SigningMethodES256, k.ec, c, "e1"), valid("premium", "u1", SourceJWT)},
		{"kid_ed25519", only, sign(t, jwt.SigningMethodEdDSA, k.ed, c, "ed1"), valid("premium", "u1", SourceJWT)},
		{"no_kid_tries_keys_of_alg", only, sign(t, jwt.SigningMethodES256, k.ec, c, ""), valid("premium", "u1", SourceJWT)},
		{"unknown_kid", only, sign(t, jwt.SigningMethodRS256, k.rsa, c, "r2"), rejectedBy(SourceJWT, ReasonUnknownKID)},
		{"kid_of_other_key_type", only, sign(t, jwt.SigningMethodRS256, k.rsa, c, "e1"), rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
		{"kid_right_signed_by_other_key", only, sign(t, jwt.SigningMethodRS256, k.rsaOther, c, "r1"), rejectedBy(SourceJWT, ReasonBadSignature)},
		{"kid_of_enc_key_is_unknown", only, sign(t, jwt.SigningMethodRS256, k.rsa, c, "enc1"), rejectedBy(SourceJWT, ReasonUnknownKID)},
		{"kid_not_a_string", only, withHeader(`{"alg":"RS256","kid":7}`, sign(t, jwt.SigningMethodRS256, k.rsa, c, "")), rejectedBy(SourceJWT, ReasonMalformed)},
		{"unknown_kid_falls_back_to_pem", both, sign(t, jwt.SigningMethodRS256, k.rsaOther, c, "rotated"), valid("premium", "u1", SourceJWT)},
		{"known_kid_does_not_fall_back", both, sign(t, jwt.SigningMethodRS256, k.rsaOther, c, "r1"), rejectedBy(SourceJWT, ReasonBadSignature)},
		{"jwks_alg_pins_rs512", pinned, sign(t, jwt.SigningMethodRS512, k.rsaOther, c, "r512"), valid("premium", "u1", SourceJWT)},
		{"jwks_alg_pinned_rejects_rs256", pinned, sign(t, jwt.SigningMethodRS256, k.rsaOther, c, "r512"), rejectedBy(SourceJWT, ReasonAlgNotAllowed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.cfg)
			got := r.Resolve(request("198.51.100.1:4000", "Authorization", bearer(tt.token)))
			checkIdentity(t, got, tt.want)
		})
	}
}

func TestCriticalHeaderRejected(t *testing.T) {
	r := mustNew(t, Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret}})
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims("premium", "u1"))
	tok.Header["crit"] = []string{"exp"}
	s, err := tok.SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	checkIdentity(t, r.Resolve(request("192.0.2.1:1", "Authorization", bearer(s))), rejectedBy(SourceJWT, ReasonMalformed))
}

func TestPublicKeyFileForms(t *testing.T) {
	k := keys()
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	rotated := append(pkixPEM(t, &k.rsaOther.PublicKey), pkixPEM(t, &k.rsa.PublicKey)...)
	tests := []struct {
		name   string
		pem    []byte
		method jwt.SigningMethod
		key    any
	}{
		{"pkcs1_rsa", pkcs1, jwt.SigningMethodRS256, k.rsa},
		{"certificate_ecdsa", certPEM(t, k.ec), jwt.SigningMethodES256, k.ec},
		{"second_of_two_keys", rotated, jwt.SigningMethodRS256, k.rsa},
		{"text_around_block", append([]byte("issued by our idp\n"), pkixPEM(t, k.ed.Public())...), jwt.SigningMethodEdDSA, k.ed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, Config{Tiers: tiers4, JWT: &JWTConfig{PublicKeyFile: writeFile(t, "k.pem", tt.pem)}})
			tok := sign(t, tt.method, tt.key, claims("free", "u1"), "")
			checkIdentity(t, r.Resolve(request("198.51.100.1:1", "Authorization", bearer(tok))), valid("free", "u1", SourceJWT))
		})
	}
}

func TestLeewayConfigured(t *testing.T) {
	r := mustNew(t, Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret, Leeway: Duration(2 * time.Minute)}})
	for _, tt := range []struct {
		name string
		exp  time.Duration
		want bool
	}{
		{"inside", -119 * time.Second, true},
		{"edge", -120 * time.Second, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims("free", "u1", "exp", now.Add(tt.exp).Unix()), "")
			if got := r.Resolve(request("198.51.100.1:1", "Authorization", bearer(tok))).Valid; got != tt.want {
				t.Errorf("Valid = %v, want %v", got, tt.want)
			}
		})
	}
}
