package cachekey

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestKey(t *testing.T) {
	tests := []struct {
		name                              string
		method, scheme, host, path, query string
		want                              string
	}{
		{"plain", "GET", "http", "example.com", "/a", "", "GET http://example.com/a"},
		{"query", "GET", "https", "example.com", "/a", "b=1", "GET https://example.com/a?b=1"},
		{"head_is_get", "HEAD", "http", "example.com", "/a", "", "GET http://example.com/a"},
		{"host_lowered", "GET", "http", "API.Example.COM", "/A", "", "GET http://api.example.com/A"},
		{"scheme_lowered", "GET", "HTTP", "h", "/", "", "GET http://h/"},
		{"http_default_port", "GET", "http", "h:80", "/", "", "GET http://h/"},
		{"https_default_port", "GET", "https", "h:443", "/", "", "GET https://h/"},
		{"https_keeps_80", "GET", "https", "h:80", "/", "", "GET https://h:80/"},
		{"http_keeps_443", "GET", "http", "h:443", "/", "", "GET http://h:443/"},
		{"other_port", "GET", "http", "h:8080", "/", "", "GET http://h:8080/"},
		{"port_ending_80", "GET", "http", "h:180", "/", "", "GET http://h:180/"},
		{"empty_port", "GET", "http", "h:", "/", "", "GET http://h/"},
		{"ipv6_default_port", "GET", "http", "[::1]:80", "/", "", "GET http://[::1]/"},
		{"ipv6_no_port", "GET", "http", "[::1]", "/", "", "GET http://[::1]/"},
		{"post_kept", "POST", "http", "h", "/", "", "POST http://h/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Key(tt.method, tt.scheme, tt.host, tt.path, tt.query); got != tt.want {
				t.Errorf("Key() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		Key("GET", "https", "API.example.com:443", "/api/products/42", "page=2&sort=price")
	})
	if allocs != 1 {
		t.Errorf("Key allocates %v times, want 1", allocs)
	}
}

func TestRequestKey(t *testing.T) {
	tests := []struct{ method, target, want string }{
		{"GET", "http://Example.com:80/a/b?x=1", "GET http://example.com/a/b?x=1"},
		{"HEAD", "https://h:443/%7e", "GET https://h/%7e"},
		{"GET", "http://h:8080/", "GET http://h:8080/"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if got := RequestKey(r); got != tt.want {
			t.Errorf("RequestKey(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}

func TestVariantHidesCredentials(t *testing.T) {
	h := http.Header{"Authorization": {"Bearer secret-token"}, "X-Api-Key": {"k-123"}, "Accept-Language": {"de"}}
	k := Variant("GET http://x/", []string{"Authorization", "X-Api-Key", "Accept-Language"}, h)
	for _, secret := range []string{"secret-token", "k-123"} {
		if strings.Contains(k, secret) {
			t.Errorf("variant key %q holds the credential %q", k, secret)
		}
	}
	if !strings.Contains(k, "Accept-Language=de") {
		t.Errorf("variant key %q lost an ordinary value", k)
	}
	other := Variant("GET http://x/", []string{"Authorization", "X-Api-Key", "Accept-Language"},
		http.Header{"Authorization": {"Bearer other"}, "X-Api-Key": {"k-123"}, "Accept-Language": {"de"}})
	if other == k {
		t.Errorf("two tokens select the same variant")
	}
}
