package fanout

import (
	"net/url"
	"regexp"
	"testing"
	"time"
)

// TestEdgeGridVectors checks the signer against the test data of Akamai's EdgeGrid client
// library for Python (akamai/edgegrid/test/testdata.json): the requests that sign no headers.
func TestEdgeGridVectors(t *testing.T) {
	e := edgeGrid{
		clientToken:  "akab-client-token-xxx-xxxxxxxxxxxxxxxx",
		accessToken:  "akab-access-token-xxx-xxxxxxxxxxxxxxxx",
		clientSecret: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=",
	}
	const base = "https://akaa-baseurl-xxxxxxxxxxx-xxxxxxxxxxxxx.luna.akamaiapis.net"
	ts := time.Date(2014, 3, 21, 19, 34, 21, 0, time.UTC)
	const nonce = "nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
	if got, want := hmacBase64([]byte(e.clientSecret), ts.Format(edgeGridTimeFormat)), "znsRMDBRqTXGJ7Ojip3/h2FGPu3LuoMYWgv9PKEnE/o="; got != want {
		t.Errorf("signing key %s, want %s", got, want)
	}
	prefix := "EG1-HMAC-SHA256 client_token=akab-client-token-xxx-xxxxxxxxxxxxxxxx;access_token=akab-access-token-xxx-xxxxxxxxxxxxxxxx;timestamp=20140321T19:34:21+0000;nonce=nonce-xx-xxxx-xxxx-xxxx-xxxxxxxxxxxx;signature="
	for _, c := range []struct {
		name, method, path, body, signature string
	}{
		{"simple_get", "GET", "/", "", "tL+y4hxyHxgWVD30X3pWnGKHcPzmrIF+LThiAOhMxYU="},
		{"get_with_query", "GET", "/testapi/v1/t1?p1=1&p2=2", "", "hKDH1UlnQySSHjvIcZpDMbQHihTQ0XyVAKZaApabdeA="},
		{"post_inside_limit", "POST", "/testapi/v1/t3", "datadatadatadatadatadatadatadata", "hXm4iCxtpN22m4cbZb4lVLW5rhX8Ca82vCFqXzSTPe4="},
		{"post_empty_body", "POST", "/testapi/v1/t6", "", "1gEDxeQGD5GovIkJJGcBaKnZ+VaPtrc4qBUHixjsPCQ="},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, _ := url.Parse(base + c.path)
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			if got, want := e.authorization(c.method, u, body, ts, nonce), prefix+c.signature; got != want {
				t.Errorf("Authorization\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestNewNonceIsUUID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := newNonce(), newNonce()
	if !uuid.MatchString(a) || a == b {
		t.Errorf("nonces %q, %q: want distinct version 4 UUIDs", a, b)
	}
}
