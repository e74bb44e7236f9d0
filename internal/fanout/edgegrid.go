package fanout

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// edgeGridTimeFormat is the timestamp format of EdgeGrid signatures (always UTC).
const edgeGridTimeFormat = "20060102T15:04:05+0000"

// edgeGridMaxBody is how much of a POST body EdgeGrid's content hash covers (the max_body of
// Akamai's client libraries).
const edgeGridMaxBody = 131072

// edgeGrid signs requests with Akamai's EdgeGrid scheme, EG1-HMAC-SHA256:
//
//	authHeader  = "EG1-HMAC-SHA256 client_token=…;access_token=…;timestamp=…;nonce=…;"
//	signingKey  = base64(HMAC-SHA256(client_secret, timestamp))
//	contentHash = base64(SHA-256(body[:131072])) for a POST with a body, else ""
//	dataToSign  = method \t scheme \t host \t path?query \t (signed headers: none) \t contentHash \t authHeader
//	Authorization: authHeader + "signature=" + base64(HMAC-SHA256(signingKey, dataToSign))
//
// The signature covers the time and a nonce, so every attempt is signed anew.
type edgeGrid struct {
	clientToken, clientSecret, accessToken string
}

// authorization returns the Authorization value of a request. u is the URL it goes to.
func (e edgeGrid) authorization(method string, u *url.URL, body []byte, t time.Time, nonce string) string {
	ts := t.UTC().Format(edgeGridTimeFormat)
	auth := fmt.Sprintf("EG1-HMAC-SHA256 client_token=%s;access_token=%s;timestamp=%s;nonce=%s;",
		e.clientToken, e.accessToken, ts, nonce)
	return auth + "signature=" + e.signature(method, u, body, ts, auth)
}

// signature is the base64 HMAC of the request's canonical form, given its timestamp and the
// start of its Authorization value.
func (e edgeGrid) signature(method string, u *url.URL, body []byte, ts, auth string) string {
	contentHash := ""
	if method == "POST" && len(body) > 0 {
		sum := sha256.Sum256(body[:min(len(body), edgeGridMaxBody)])
		contentHash = base64.StdEncoding.EncodeToString(sum[:])
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	data := strings.Join([]string{
		strings.ToUpper(method), strings.ToLower(u.Scheme), strings.ToLower(u.Host), path,
		"", // canonical headers: none are signed
		contentHash, auth,
	}, "\t")
	key := hmacBase64([]byte(e.clientSecret), ts)
	return hmacBase64([]byte(key), data)
}

func hmacBase64(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// newNonce returns a random (version 4) UUID.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
