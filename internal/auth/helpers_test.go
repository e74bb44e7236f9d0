package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// now is the fixed clock of every test.
var now = time.Unix(1_700_000_000, 0)

func clock() time.Time { return now }

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

// testKeys are generated once per test binary: RSA generation is slow.
type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec, ecOther   *ecdsa.PrivateKey
	ed, edOther   ed25519.PrivateKey
}

var keys = sync.OnceValue(func() testKeys {
	var k testKeys
	var err error
	must := func() {
		if err != nil {
			panic(err)
		}
	}
	k.rsa, err = rsa.GenerateKey(rand.Reader, 2048)
	must()
	k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048)
	must()
	k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must()
	k.ecOther, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must()
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	must()
	_, k.edOther, err = ed25519.GenerateKey(rand.Reader)
	must()
	return k
})

// claims returns standard valid claims for tier and sub, with overrides applied ("" deletes).
func claims(tier, sub string, extra ...any) jwt.MapClaims {
	c := jwt.MapClaims{"exp": now.Add(time.Hour).Unix(), "iat": now.Add(-time.Minute).Unix()}
	if tier != "" {
		c["tier"] = tier
	}
	if sub != "" {
		c["sub"] = sub
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == nil {
			delete(c, extra[i].(string))
		} else {
			c[extra[i].(string)] = extra[i+1]
		}
	}
	return c
}

// sign signs c with method and key, putting kid in the header when it is not "".
func sign(t testing.TB, method jwt.SigningMethod, key any, c jwt.MapClaims, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pkixPEM(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func certPEM(t testing.TB, priv *ecdsa.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "idp"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkOf returns the JWK of a public key.
func jwkOf(t testing.TB, pub any, kid string) map[string]string {
	t.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig",
			"n": b64u(k.N.Bytes()), "e": b64u(big.NewInt(int64(k.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return map[string]string{"kty": "EC", "kid": kid, "crv": "P-256", "x": b64u(b[1:33]), "y": b64u(b[33:])}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64u(k)}
	}
	t.Fatalf("jwkOf %T", pub)
	return nil
}

func jwksJSON(t testing.TB, ks ...map[string]string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": ks})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustNew(t testing.TB, c Config) *Resolver {
	t.Helper()
	r, err := New(c, WithClock(clock))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// request builds a GET from peer (host:port) with header pairs.
func request(peer string, kv ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://api.example/v1/books", nil)
	r.RemoteAddr = peer
	for i := 0; i+1 < len(kv); i += 2 {
		r.Header.Add(kv[i], kv[i+1])
	}
	return r
}

func bearer(token string) string { return "Bearer " + token }

var tiers4 = []string{"anonymous", "free", "premium", "admin"}

// checkIdentity compares the fields that matter; want.Reason "" means Valid or anonymous.
func checkIdentity(t *testing.T, got, want Identity) {
	t.Helper()
	if got != want {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func valid(tier, sub, source string) Identity {
	i := 0
	for n, x := range tiers4 {
		if x == tier {
			i = n
		}
	}
	return Identity{Tier: tier, TierIndex: i, Subject: sub, Credentialed: true, Valid: true, Source: source}
}

var anonymous = Identity{Tier: "anonymous"}
