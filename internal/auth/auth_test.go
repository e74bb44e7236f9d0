package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestNewErrors(t *testing.T) {
	k := keys()
	dir := t.TempDir()
	missing := dir + "/missing.pem"
	privDER, _ := x509.MarshalPKCS8PrivateKey(k.ec)
	privPEM := writeFile(t, "priv.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPEM := writeFile(t, "small.pem", pkixPEM(t, &small.PublicKey))
	notPEM := writeFile(t, "not.pem", []byte("hello"))
	badJSON := writeFile(t, "bad.json", []byte("{"))
	oct := writeFile(t, "oct.json", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`))
	ecAsRSA := jwkOf(t, &k.ec.PublicKey, "e1")
	ecAsRSA["alg"] = "RS256"
	misfit := writeFile(t, "misfit.json", jwksJSON(t, ecAsRSA))
	onlyEnc := writeFile(t, "enc.json", []byte(`{"keys":[{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`))
	badEC := writeFile(t, "badec.json", []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]}`))
	offCurve := jwkOf(t, &k.ec.PublicKey, "e1")
	offCurve["y"] = offCurve["x"]
	offCurveFile := writeFile(t, "offcurve.json", jwksJSON(t, offCurve))
	secret := JWTConfig{HS256Secret: testSecret}

	tests := []struct {
		name string
		cfg  Config
		want []string // each must appear in the error
	}{
		{"tier_name", Config{Tiers: []string{"anonymous", "pre mium"}}, []string{`auth.tiers[1]: invalid tier name "pre mium"`}},
		{"tier_empty", Config{Tiers: []string{""}}, []string{`auth.tiers[0]: invalid tier name`}},
		{"tier_duplicate", Config{Tiers: []string{"anonymous", "free", "free"}}, []string{`auth.tiers[2]: duplicate tier "free"`}},
		{"jwt_no_key", Config{JWT: &JWTConfig{}}, []string{"auth.jwt: no key"}},
		{"jwt_short_secret", Config{JWT: &JWTConfig{HS256Secret: "s3cret"}}, []string{"auth.jwt.hs256_secret: 6 bytes", "RFC 7518"}},
		{"jwt_missing_file", Config{JWT: &JWTConfig{PublicKeyFile: missing}}, []string{"auth.jwt.public_key_file: open " + missing}},
		{"jwt_not_pem", Config{JWT: &JWTConfig{PublicKeyFile: notPEM}}, []string{"auth.jwt.public_key_file: no PEM public key"}},
		{"jwt_private_key", Config{JWT: &JWTConfig{PublicKeyFile: privPEM}}, []string{"auth.jwt.public_key_file: PEM block 1 is a private key"}},
		{"jwt_small_rsa", Config{JWT: &JWTConfig{PublicKeyFile: smallPEM}}, []string{"auth.jwt.public_key_file: PEM block 1: RSA key of 1024 bits"}},
		{"jwks_missing", Config{JWT: &JWTConfig{JWKSFile: missing}}, []string{"auth.jwt.jwks_file: open"}},
		{"jwks_bad_json", Config{JWT: &JWTConfig{JWKSFile: badJSON}}, []string{"auth.jwt.jwks_file: not a JWKS"}},
		{"jwks_oct", Config{JWT: &JWTConfig{JWKSFile: oct}}, []string{"auth.jwt.jwks_file: keys[0]: symmetric (oct) keys"}},
		{"jwks_alg_misfit", Config{JWT: &JWTConfig{JWKSFile: misfit}}, []string{`auth.jwt.jwks_file: keys[0]: alg "RS256" does not fit a EC key`}},
		{"jwks_only_enc", Config{JWT: &JWTConfig{JWKSFile: onlyEnc}}, []string{"auth.jwt.jwks_file: no signature keys"}},
		{"jwks_bad_ec", Config{JWT: &JWTConfig{JWKSFile: badEC}}, []string{"auth.jwt.jwks_file: keys[0]: EC key: coordinates must be 32 bytes"}},
		{"jwks_off_curve", Config{JWT: &JWTConfig{JWKSFile: offCurveFile}}, []string{"auth.jwt.jwks_file: keys[0]: EC key:"}},
		{"jwt_negative_leeway", Config{JWT: &JWTConfig{HS256Secret: testSecret, Leeway: Duration(-time.Second)}}, []string{"auth.jwt.leeway: -1s is out of range"}},
		{"jwt_huge_leeway", Config{JWT: &JWTConfig{HS256Secret: testSecret, Leeway: Duration(time.Hour)}}, []string{"auth.jwt.leeway: 1h0m0s is out of range"}},
		{"jwt_bad_header", Config{JWT: &JWTConfig{HS256Secret: testSecret, Header: "X Token"}}, []string{`auth.jwt.header: invalid header name "X Token"`}},
		{"api_keys_empty", Config{APIKeys: &APIKeysConfig{}}, []string{"auth.api_keys.keys: no keys"}},
		{"api_key_unknown_tier", Config{APIKeys: &APIKeysConfig{Keys: map[string]APIKey{"a": {Key: rawKey, Tier: "gold"}}}}, []string{`auth.api_keys.keys.a.tier: "gold" is not one of auth.tiers`}},
		{"api_key_short", Config{APIKeys: &APIKeysConfig{Keys: map[string]APIKey{"a": {Key: "short", Tier: "anonymous"}}}}, []string{"auth.api_keys.keys.a.key: raw key of 5 bytes is guessable"}},
		{"api_key_missing", Config{APIKeys: &APIKeysConfig{Keys: map[string]APIKey{"a b": {Tier: "anonymous"}}}}, []string{`auth.api_keys.keys["a b"].key: required`}},
		{"api_key_bad_digest", Config{APIKeys: &APIKeysConfig{Keys: map[string]APIKey{"a": {Key: "sha256:abc", Tier: "anonymous"}}}}, []string{"auth.api_keys.keys.a.key: a digest is sha256: followed by 64 hex digits"}},
		{"api_key_bad_hex", Config{APIKeys: &APIKeysConfig{Keys: map[string]APIKey{"a": {Key: "sha256:" + strings.Repeat("zz", 32), Tier: "anonymous"}}}}, []string{"auth.api_keys.keys.a.key: a digest"}},
		{"api_key_same_key_twice", Config{APIKeys: &APIKeysConfig{Keys: map[string]APIKey{
			"a": {Key: rawKey, Tier: "anonymous"}, "b": {Key: digestOf(rawKey), Tier: "anonymous"}}}}, []string{"auth.api_keys.keys.b.key: same key as auth.api_keys.keys.a"}},
		{"header_shared", Config{JWT: &secret, APIKeys: &APIKeysConfig{Header: "authorization", Keys: map[string]APIKey{"a": {Key: rawKey, Tier: "anonymous"}}}},
			[]string{"auth.api_keys.header: header Authorization is already used by auth.jwt.header"}},
		{"trusted_missing", Config{TrustedHeader: &TrustedHeaderConfig{}}, []string{"auth.trusted_header.header: required", "auth.trusted_header.from: required"}},
		{"trusted_bad_from", Config{TrustedHeader: &TrustedHeaderConfig{Header: "X-Tier", From: []string{"10.0.0.0/8", "10.0.0.300", "fe80::1%eth0"}}},
			[]string{"auth.trusted_header.from[1]:", `auth.trusted_header.from[2]: "fe80::1%eth0": zones are not supported`}},
		{"trusted_subject_same_header", Config{TrustedHeader: &TrustedHeaderConfig{Header: "X-Tier", SubjectHeader: "x-tier", From: []string{"::1"}}},
			[]string{"auth.trusted_header.subject_header: header X-Tier is already used by auth.trusted_header.header"}},
		{"user_hash_key_short", Config{UserHashKey: "short"}, []string{"auth.user_hash_key: 5 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := New(tt.cfg)
			if err == nil {
				t.Fatalf("New = %v, nil; want an error", r)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var fe *FieldError
			if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "auth") {
				t.Errorf("error %v: no *FieldError with an auth field", err)
			}
		})
	}
}

func TestNewCollectsEveryProblem(t *testing.T) {
	_, err := New(Config{Tiers: []string{"a a"}, JWT: &JWTConfig{HS256Secret: "x"}, UserHashKey: "y"})
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v does not unwrap to a list", err)
	}
	var fields []string
	for _, e := range joined.Unwrap() {
		fields = append(fields, e.(*FieldError).Field)
	}
	want := []string{"auth.tiers[0]", "auth.jwt.hs256_secret", "auth.user_hash_key"}
	if !slices.Equal(fields, want) {
		t.Errorf("fields = %q, want %q", fields, want)
	}
}

func TestNewValid(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		wantTiers []string
	}{
		{"zero", Config{}, []string{"anonymous"}},
		{"tiers_only", Config{Tiers: tiers4}, tiers4},
		{"issue_example_shape", Config{Tiers: tiers4, JWT: &JWTConfig{HS256Secret: testSecret, TierClaim: "tier"}}, tiers4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.cfg)
			got := r.Tiers()
			if !slices.Equal(got, tt.wantTiers) {
				t.Errorf("Tiers() = %q, want %q", got, tt.wantTiers)
			}
			got[0] = "changed"
			if r.Tiers()[0] == "changed" {
				t.Error("Tiers() returned the resolver's own slice")
			}
		})
	}
}

func TestNewDoesNotAliasTiers(t *testing.T) {
	tiers := slices.Clone(tiers4)
	r := mustNew(t, Config{Tiers: tiers})
	tiers[0] = "mutated"
	if got := r.Resolve(request("192.0.2.1:1")).Tier; got != "anonymous" {
		t.Errorf("Tier = %q after caller mutated its slice, want anonymous", got)
	}
}

var hexKey = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestUserKey(t *testing.T) {
	hashKey := strings.Repeat("k", 32)
	cfg := apiKeyConfig()
	cfg.JWT = &JWTConfig{HS256Secret: testSecret}
	cfg.UserHashKey = hashKey
	r1, r2 := mustNew(t, cfg), mustNew(t, cfg)
	cfg.UserHashKey = strings.Repeat("j", 32)
	other := mustNew(t, cfg)
	cfg.UserHashKey = ""
	random1, random2 := mustNew(t, cfg), mustNew(t, cfg)

	jwtID := func(sub string) Identity {
		tok := sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims("premium", sub), "")
		return r1.Resolve(request("192.0.2.1:1", "Authorization", bearer(tok)))
	}
	u1 := jwtID("u1")
	if !u1.Valid || u1.Subject != "u1" {
		t.Fatalf("setup: %+v", u1)
	}
	k := r1.UserKey(u1)
	if !hexKey.MatchString(k) {
		t.Fatalf("UserKey = %q, want 32 hex digits", k)
	}
	for _, tt := range []struct {
		name string
		got  string
		same bool
	}{
		{"same_subject_same_key", r1.UserKey(jwtID("u1")), true},
		{"another_resolver_same_key", r2.UserKey(u1), true},
		{"different_hash_key", other.UserKey(u1), false},
		{"different_subject", r1.UserKey(jwtID("u2")), false},
		{"same_subject_other_source", r1.UserKey(Identity{Valid: true, Credentialed: true, Subject: "u1", Source: SourceAPIKey}), false},
		{"random_key_per_resolver", random1.UserKey(u1), false},
		{"source_subject_boundary", r1.UserKey(Identity{Valid: true, Subject: "\x00u1", Source: "jwt"}), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if (tt.got == k) != tt.same {
				t.Errorf("UserKey = %q, base %q; want same=%v", tt.got, k, tt.same)
			}
		})
	}
	if random1.UserKey(u1) == random2.UserKey(u1) {
		t.Error("two resolvers with random keys agree")
	}
	for _, tt := range []struct {
		name string
		id   Identity
	}{
		{"anonymous", r1.Resolve(request("192.0.2.1:1"))},
		{"rejected", r1.Resolve(request("192.0.2.1:1", "Authorization", "Bearer x.y.z"))},
		{"rejected_with_subject_field", Identity{Subject: "u1", Credentialed: true, Source: SourceJWT}},
		{"valid_without_subject", jwtID("")},
	} {
		t.Run("empty_"+tt.name, func(t *testing.T) {
			if got := r1.UserKey(tt.id); got != "" {
				t.Errorf("UserKey(%+v) = %q, want \"\"", tt.id, got)
			}
		})
	}
}

// TestConcurrentResolve runs every source from many goroutines, for -race.
func TestConcurrentResolve(t *testing.T) {
	cfg := apiKeyConfig()
	cfg.JWT = &JWTConfig{HS256Secret: testSecret}
	cfg.TrustedHeader = &TrustedHeaderConfig{Header: "X-User-Tier", From: []string{"10.0.0.0/8"}}
	r := mustNew(t, cfg)
	premium := bearer(sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims("premium", "u1"), ""))
	forged := flipSignature(premium)
	want := r.UserKey(valid("premium", "u1", SourceJWT))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				var id Identity
				switch (g + i) % 4 {
				case 0:
					id = r.Resolve(request("192.0.2.1:1", "Authorization", premium))
					if !id.Valid || id.Tier != "premium" || r.UserKey(id) != want {
						t.Errorf("premium: %+v", id)
					}
				case 1:
					if id = r.Resolve(request("192.0.2.1:1", "Authorization", forged)); id.Valid || id.TierIndex != -1 {
						t.Errorf("forged: %+v", id)
					}
				case 2:
					if id = r.Resolve(request("10.0.0.1:1", "X-User-Tier", "free")); id.Tier != "free" {
						t.Errorf("trusted: %+v", id)
					}
				case 3:
					if id = r.Resolve(request("192.0.2.1:1", "X-API-Key", rawKey)); id.Subject != "acme" {
						t.Errorf("api key: %+v", id)
					}
				}
			}
		})
	}
	wg.Wait()
}
