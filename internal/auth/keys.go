package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
)

// verificationKey is a public key and the one algorithm it verifies. A key never verifies any
// other algorithm: that pinning is what makes algorithm confusion (an HS256 token "signed" with
// an RSA public key, RFC 8725 §2.1) impossible.
type verificationKey struct {
	kid string // "" for keys from public_key_file and hs256_secret: they match any kid
	alg string
	key any // []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey
}

// loadPEMKeys reads every public key of a PEM file.
func loadPEMKeys(path string) ([]verificationKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var keys []verificationKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE") {
				return nil, fmt.Errorf("PEM block %d is a private key; give moat the public key only", n)
			}
			return nil, fmt.Errorf("PEM block %d: unsupported type %q", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		alg, err := defaultAlg(pub)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, verificationKey{alg: alg, key: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM public key found")
	}
	return keys, nil
}

// defaultAlg is the algorithm a key verifies when nothing names one, and the check that the key
// is one moat accepts.
func defaultAlg(pub any) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return "", fmt.Errorf("RSA key of %d bits; at least %d are needed", k.N.BitLen(), MinRSABits)
		}
		return "RS256", nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return "EdDSA", nil
	}
	return "", fmt.Errorf("unsupported key type %T", pub)
}

// jwk is the subset of a JSON Web Key (RFC 7517 §4, RFC 7518 §6) that moat reads.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// loadJWKS reads the signature keys of a JWKS file.
func loadJWKS(path string) ([]verificationKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JWKS: %w", err)
	}
	var keys []verificationKey
	for i, k := range set.Keys {
		if k.Use == "enc" {
			continue
		}
		vk, err := parseJWK(k)
		if err != nil {
			return nil, fmt.Errorf("keys[%d]: %w", i, err)
		}
		keys = append(keys, vk)
	}
	if len(keys) == 0 {
		return nil, errors.New(`no signature keys (a JWKS is {"keys": [...]})`)
	}
	return keys, nil
}

func parseJWK(k jwk) (verificationKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return verificationKey{}, fmt.Errorf("unknown use %q", k.Use)
	}
	var pub any
	var algs []string // the algorithms this key type may verify
	switch k.Kty {
	case "RSA":
		n, err1 := b64Int(k.N)
		e, err2 := b64Int(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return verificationKey{}, fmt.Errorf("RSA key: %w", err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return verificationKey{}, errors.New("RSA key: invalid exponent")
		}
		pub = &rsa.PublicKey{N: n, E: int(e.Int64())}
		algs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
	case "EC":
		var curve elliptic.Curve
		switch k.Crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return verificationKey{}, fmt.Errorf("unsupported EC curve %q", k.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		if err := errors.Join(err1, err2); err != nil {
			return verificationKey{}, fmt.Errorf("EC key: %w", err)
		}
		if len(x) != size || len(y) != size {
			return verificationKey{}, fmt.Errorf("EC key: coordinates must be %d bytes", size)
		}
		ec, err := ecdsa.ParseUncompressedPublicKey(curve, slices.Concat([]byte{4}, x, y))
		if err != nil {
			return verificationKey{}, fmt.Errorf("EC key: %w", err)
		}
		pub = ec
	case "OKP":
		if k.Crv != "Ed25519" {
			return verificationKey{}, fmt.Errorf("unsupported OKP curve %q", k.Crv)
		}
		x, err := b64(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return verificationKey{}, errors.New("Ed25519 key: x must be 32 bytes of base64url")
		}
		pub = ed25519.PublicKey(x)
	case "oct":
		return verificationKey{}, errors.New("symmetric (oct) keys are not accepted from a JWKS file; use hs256_secret")
	default:
		return verificationKey{}, fmt.Errorf("unsupported kty %q", k.Kty)
	}
	alg, err := defaultAlg(pub)
	if err != nil {
		return verificationKey{}, err
	}
	if k.Alg != "" && k.Alg != alg {
		if !slices.Contains(algs, k.Alg) {
			return verificationKey{}, fmt.Errorf("alg %q does not fit a %s key", k.Alg, k.Kty)
		}
		alg = k.Alg
	}
	return verificationKey{kid: k.Kid, alg: alg, key: pub}, nil
}

// b64 decodes base64url, with or without padding (RFC 7515 §2 says without; some tools pad).
func b64(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func b64Int(s string) (*big.Int, error) {
	b, err := b64(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("bad base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}
