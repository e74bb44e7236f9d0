package httpcache

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

func TestInvalidationTargets(t *testing.T) {
	target := &url.URL{Scheme: "https", Host: "api.example.com", Path: "/books/1", RawQuery: "v=2"}
	tests := []struct {
		name   string
		method string
		status int
		target *url.URL
		resp   http.Header
		want   []string
	}{
		{"put_target_only", "PUT", 204, target, header(), []string{"https://api.example.com/books/1?v=2"}},
		{"post_location_relative", "POST", 201, target, header("Location", "/books/2"),
			[]string{"https://api.example.com/books/1?v=2", "https://api.example.com/books/2"}},
		{"location_dot_segments", "POST", 201, target, header("Location", "../authors/7"),
			[]string{"https://api.example.com/books/1?v=2", "https://api.example.com/authors/7"}},
		{"content_location_absolute_same_origin", "PATCH", 200, target,
			header("Content-Location", "https://API.example.com:443/books/1/v3"),
			[]string{"https://api.example.com/books/1?v=2", "https://API.example.com:443/books/1/v3"}},
		{"both", "DELETE", 200, target, header("Location", "/books", "Content-Location", "/books/1/deleted"),
			[]string{"https://api.example.com/books/1?v=2", "https://api.example.com/books", "https://api.example.com/books/1/deleted"}},
		{"duplicates_removed", "POST", 303, target, header("Location", "/books/1?v=2#x", "Content-Location", "/books/1?v=2"),
			[]string{"https://api.example.com/books/1?v=2"}},
		{"cross_origin_host_ignored", "POST", 201, target, header("Location", "https://evil.example.com/books/1"),
			[]string{"https://api.example.com/books/1?v=2"}},
		{"cross_origin_scheme_ignored", "POST", 201, target, header("Location", "http://api.example.com/books/2"),
			[]string{"https://api.example.com/books/1?v=2"}},
		{"cross_origin_port_ignored", "POST", 201, target, header("Location", "https://api.example.com:8443/books/2"),
			[]string{"https://api.example.com/books/1?v=2"}},
		{"network_path_reference", "POST", 201, target, header("Location", "//other.example.com/x"),
			[]string{"https://api.example.com/books/1?v=2"}},
		{"invalid_location_ignored", "POST", 201, target, header("Location", "%zz"),
			[]string{"https://api.example.com/books/1?v=2"}},
		{"fragment_dropped", "PUT", 200, &url.URL{Scheme: "https", Host: "api.example.com", Path: "/a", Fragment: "f"}, header(),
			[]string{"https://api.example.com/a"}},
		{"unknown_method_is_unsafe", "PURGE", 200, target, header(), []string{"https://api.example.com/books/1?v=2"}},
		{"lowercase_get_is_unsafe", "get", 200, target, header(), []string{"https://api.example.com/books/1?v=2"}},
		{"redirect", "POST", 302, target, header(), []string{"https://api.example.com/books/1?v=2"}},
		{"client_error", "POST", 400, target, header("Location", "/books/2"), nil},
		{"server_error", "DELETE", 503, target, header(), nil},
		{"informational", "POST", 100, target, header(), nil},
		{"get", "GET", 200, target, header(), nil},
		{"head", "HEAD", 200, target, header(), nil},
		{"options", "OPTIONS", 200, target, header(), nil},
		{"trace", "TRACE", 200, target, header(), nil},
		{"nil_target", "POST", 200, nil, header(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, u := range InvalidationTargets(tt.method, tt.status, tt.target, tt.resp) {
				got = append(got, u.String())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("InvalidationTargets() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestInvalidationTargetsDoesNotAliasTarget(t *testing.T) {
	target := &url.URL{Scheme: "https", Host: "a.example", Path: "/x"}
	got := InvalidationTargets("POST", 200, target, nil)
	got[0].Path = "/changed"
	if target.Path != "/x" {
		t.Errorf("target.Path = %q after editing the result, want %q", target.Path, "/x")
	}
}

func TestIsSafeMethod(t *testing.T) {
	for _, m := range []string{"", "GET", "HEAD", "OPTIONS", "TRACE"} {
		if !IsSafeMethod(m) {
			t.Errorf("IsSafeMethod(%q) = false, want true", m)
		}
	}
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE", "CONNECT", "get", "PURGE"} {
		if IsSafeMethod(m) {
			t.Errorf("IsSafeMethod(%q) = true, want false", m)
		}
	}
}
