package auth

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var reasons = map[string]bool{
	ReasonNotBearer: true, ReasonDuplicate: true, ReasonTooLarge: true, ReasonMalformed: true,
	ReasonAlgNotAllowed: true, ReasonUnknownKID: true, ReasonBadSignature: true, ReasonExpired: true,
	ReasonNotYetValid: true, ReasonIssuedInFuture: true, ReasonMissingExpiry: true,
	ReasonWrongIssuer: true, ReasonWrongAudience: true, ReasonInvalidClaims: true,
	ReasonMissingTier: true, ReasonUnknownTier: true, ReasonBadSubject: true,
	ReasonUntrustedPeer: true, ReasonUnknownAPIKey: true, ReasonConflict: true, ReasonUnverified: true,
}

// FuzzResolveJWT feeds arbitrary Authorization values to a resolver that accepts every key type.
// Without the keys (generated afresh in each process) no input can be a valid token, so every
// input must be rejected, never crash, and never produce a tier.
func FuzzResolveJWT(f *testing.F) {
	k := keys()
	jwks := writeFile(f, "jwks.json", jwksJSON(f, jwkOf(f, &k.rsa.PublicKey, "r1"), jwkOf(f, &k.ec.PublicKey, "e1"), jwkOf(f, k.ed.Public(), "ed1")))
	cfg := Config{Tiers: tiers4, JWT: &JWTConfig{
		HS256Secret:   testSecret,
		PublicKeyFile: writeFile(f, "rsa.pem", pkixPEM(f, &k.rsaOther.PublicKey)),
		JWKSFile:      jwks,
		Issuer:        "https://idp.example",
	}}
	r := mustNew(f, cfg)

	hs := func(c jwt.MapClaims) string { return sign(f, jwt.SigningMethodHS256, []byte(testSecret), c, "") }
	valid := claims("premium", "u1", "iss", "https://idp.example")
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer x", "Basic dXNlcjpwYXNz", "Bearer a.b.c", "Bearer ..", "Bearer a.b.c.d",
		bearer(flipSignature(hs(valid))),
		bearer(hs(claims("premium", "u1", "iss", "https://idp.example", "exp", now.Add(-time.Hour).Unix()))),
		bearer(hs(claims("platinum", "u1", "iss", "https://idp.example"))),
		bearer(hs(claims("premium", "u1"))),
		bearer(sign(f, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid, "")),
		bearer(sign(f, jwt.SigningMethodHS256, pkixPEM(f, &k.rsa.PublicKey), valid, "r1")),
		bearer(flipSignature(sign(f, jwt.SigningMethodRS256, k.rsa, valid, "r1"))),
		bearer(flipSignature(sign(f, jwt.SigningMethodES256, k.ec, valid, "e1"))),
		bearer(flipSignature(sign(f, jwt.SigningMethodEdDSA, k.ed, valid, "ed1"))),
		bearer(withHeader(`{"alg":"RS256","kid":{"x":1}}`, hs(valid))),
		bearer(withHeader(`{"alg":"HS256","crit":["b64"],"b64":false}`, hs(valid))),
		"Bearer " + strings.Repeat("A", MaxTokenBytes+1),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "http://api.example/", nil)
		req.RemoteAddr = "192.0.2.1:1"
		req.Header["Authorization"] = []string{header}
		id := r.Resolve(req)
		if id.Valid || !id.Credentialed || id.Tier != "" || id.TierIndex != -1 || id.Subject != "" || id.Source != SourceJWT {
			t.Fatalf("Resolve(%q) = %+v, want a JWT rejection", header, id)
		}
		if !reasons[id.Reason] {
			t.Fatalf("Resolve(%q): Reason %q is not one of the Reason constants", header, id.Reason)
		}
		if r.UserKey(id) != "" {
			t.Fatalf("UserKey of a rejection is not empty")
		}
	})
}
