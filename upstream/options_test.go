package upstream_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/moatproxy/moat/upstream"
)

func TestNewValidates(t *testing.T) {
	good := &url.URL{Scheme: "http", Host: "127.0.0.1:8080"}
	parse := func(s string) *url.URL {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	one := func(m upstream.Member) []upstream.Member { return []upstream.Member{m} }
	for _, tc := range []struct {
		name string
		o    upstream.Options
		want string // in the error; "" means valid
	}{
		{"minimal", upstream.Options{Members: one(upstream.Member{URL: good})}, ""},
		{"https_with_slash", upstream.Options{Members: one(upstream.Member{URL: parse("https://origin.example/")})}, ""},
		{"no_members", upstream.Options{}, "Members"},
		{"nil_url", upstream.Options{Members: one(upstream.Member{})}, "Members[0].URL"},
		{"relative_url", upstream.Options{Members: one(upstream.Member{URL: parse("/x")})}, "Members[0].URL"},
		{"ftp", upstream.Options{Members: one(upstream.Member{URL: parse("ftp://h")})}, "scheme"},
		{"path", upstream.Options{Members: one(upstream.Member{URL: parse("http://h/api")})}, "path"},
		{"query", upstream.Options{Members: one(upstream.Member{URL: parse("http://h?a=1")})}, "query"},
		{"user_info", upstream.Options{Members: one(upstream.Member{URL: parse("http://u:p@h")})}, "user info"},
		{"duplicate", upstream.Options{Members: []upstream.Member{{URL: good}, {URL: parse("HTTP://127.0.0.1:8080")}}}, "Members[1].URL"},
		{"negative_weight", upstream.Options{Members: one(upstream.Member{URL: good, Weight: -1})}, "Members[0].Weight"},
		{"negative_max_conns", upstream.Options{Members: one(upstream.Member{URL: good, MaxConns: -1})}, "Members[0].MaxConns"},
		{"unknown_balance", upstream.Options{Members: one(upstream.Member{URL: good}), Balance: "ip_hash"}, "Balance"},
		{"health_path", upstream.Options{Members: one(upstream.Member{URL: good}), Health: upstream.HealthCheck{Path: "healthz"}}, "Health.Path"},
		{"health_status", upstream.Options{Members: one(upstream.Member{URL: good}), Health: upstream.HealthCheck{Status: []int{99}}}, "Health.Status[0]"},
		{"passive_status", upstream.Options{Members: one(upstream.Member{URL: good}), Passive: upstream.Passive{Statuses: []int{502, 600}}}, "Passive.Statuses[1]"},
		{"negative_fail_timeout", upstream.Options{Members: one(upstream.Member{URL: good}), Passive: upstream.Passive{FailTimeout: -1}}, "Passive.FailTimeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := upstream.New(tc.o)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.want == "":
				p.Close()
			case err == nil:
				t.Fatalf("New: no error, want one naming %s", tc.want)
			case !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "upstream: "):
				t.Errorf("New: %v, want an upstream: error naming %s", err, tc.want)
			}
		})
	}
}
