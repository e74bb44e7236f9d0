package httpcache

import (
	"net/http"
	"testing"
)

func TestTargetedView(t *testing.T) {
	fields := []string{"Moat-Cache-Control", "Cdn-Cache-Control"}
	tests := []struct {
		name   string
		hdr    http.Header
		cc     string // the view's Cache-Control
		used   string
		expire bool // the view keeps Expires
	}{
		{"none", http.Header{"Cache-Control": {"max-age=5"}, "Expires": {"x"}}, "max-age=5", "", true},
		{"cdn", http.Header{"Cache-Control": {"no-store"}, "Cdn-Cache-Control": {"max-age=600, stale-while-revalidate=30"}, "Expires": {"x"}}, "max-age=600, stale-while-revalidate=30", "Cdn-Cache-Control", false},
		{"moat_first", http.Header{"Cdn-Cache-Control": {"max-age=600"}, "Moat-Cache-Control": {"max-age=10"}}, "max-age=10", "Moat-Cache-Control", false},
		{"invalid_falls_back", http.Header{"Cdn-Cache-Control": {"max-age=1.5"}, "Cache-Control": {"max-age=5"}}, "max-age=5", "", true},
		{"booleans_and_strings", http.Header{"Cdn-Cache-Control": {`no-store=?0, private="set-cookie", must-revalidate, x;a=1`}}, `private="set-cookie", must-revalidate, x`, "Cdn-Cache-Control", false},
		{"token_value", http.Header{"Cdn-Cache-Control": {"max-age=60, foo=bar"}}, "max-age=60, foo=bar", "Cdn-Cache-Control", false},
		{"lines_joined", http.Header{"Cdn-Cache-Control": {"max-age=60", "public"}}, "max-age=60, public", "Cdn-Cache-Control", false},
		{"empty_is_valid", http.Header{"Cdn-Cache-Control": {""}, "Cache-Control": {"max-age=5"}}, "", "Cdn-Cache-Control", false},
		{"inner_list_invalid", http.Header{"Cdn-Cache-Control": {"private=(a b)"}, "Cache-Control": {"max-age=5"}}, "max-age=5", "", true},
		{"upper_case_key_invalid", http.Header{"Cdn-Cache-Control": {"Max-Age=60"}, "Cache-Control": {"max-age=5"}}, "max-age=5", "", true},
		{"trailing_comma_invalid", http.Header{"Cdn-Cache-Control": {"max-age=60,"}, "Cache-Control": {"max-age=5"}}, "max-age=5", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			view, used := TargetedView(tt.hdr, fields)
			if got := view.Get("Cache-Control"); got != tt.cc || used != tt.used {
				t.Errorf("Cache-Control %q from %q; want %q from %q", got, used, tt.cc, tt.used)
			}
			if _, has := view["Expires"]; has != (tt.expire && tt.hdr.Get("Expires") != "") {
				t.Errorf("Expires kept = %v", has)
			}
			if used != "" && tt.hdr.Get("Cache-Control") != "" && view.Get("Cache-Control") == tt.hdr.Get("Cache-Control") && tt.cc != tt.hdr.Get("Cache-Control") {
				t.Error("the original header was modified")
			}
		})
	}
}
