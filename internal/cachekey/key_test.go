package cachekey

import (
	"net/http/httptest"
	"net/url"
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

// TestKeyMatchesPrimary checks that Key of a normalized request is
// Primary's format, so the two can live side by side during migration.
func TestKeyMatchesPrimary(t *testing.T) {
	n, _ := NewNormalizer(Options{})
	for _, target := range []string{"http://Example.com/a/b?x=1&y=2", "https://h/a%2Fb", "http://h:8080/"} {
		r := httptest.NewRequest("GET", target, nil)
		path, query, changed := n.Normalize(r.URL, nil)
		if changed {
			t.Fatalf("%s: not canonical", target)
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		if got, want := Key(r.Method, scheme, r.Host, path, query), Primary(r); got != want {
			t.Errorf("Key = %q, Primary = %q", got, want)
		}
	}
}

func TestPrimaryUnchanged(t *testing.T) {
	// Primary keys the request as it arrived: no normalization, default
	// port kept.
	tests := []struct{ method, target, want string }{
		{"GET", "http://Example.com:80/a/./b?b=1&a=2&utm_source=x", "GET http://example.com:80/a/./b?b=1&a=2&utm_source=x"},
		{"HEAD", "http://h/%7e", "GET http://h/%7e"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if got := Primary(r); got != tt.want {
			t.Errorf("Primary(%s %s) = %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
	u, _ := url.Parse("https://H/x?y")
	if got, want := ForURL(u), "GET https://h/x?y"; got != want {
		t.Errorf("ForURL = %q, want %q", got, want)
	}
}
