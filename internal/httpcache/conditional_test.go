package httpcache

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestNotModified(t *testing.T) {
	lm := httpDate(t0)
	older, newer := httpDate(t0.Add(-time.Hour)), httpDate(t0.Add(time.Hour))
	tests := []struct {
		name           string
		req            http.Header
		etag, lm, date string
		want           bool
	}{
		{"unconditional", header(), `"a"`, lm, "", false},
		{"strong_match", header("If-None-Match", `"a"`), `"a"`, "", "", true},
		{"strong_mismatch", header("If-None-Match", `"b"`), `"a"`, "", "", false},
		{"weak_request_strong_stored", header("If-None-Match", `W/"a"`), `"a"`, "", "", true},
		{"strong_request_weak_stored", header("If-None-Match", `"a"`), `W/"a"`, "", "", true},
		{"weak_both", header("If-None-Match", `W/"a"`), `W/"a"`, "", "", true},
		{"list", header("If-None-Match", `"x", W/"y", "a"`), `"a"`, "", "", true},
		{"list_across_lines", header("If-None-Match", `"x"`, "If-None-Match", `"a"`), `"a"`, "", "", true},
		{"comma_inside_etag", header("If-None-Match", `"a,b", "c"`), `"a,b"`, "", "", true},
		{"comma_inside_etag_not_split", header("If-None-Match", `"a,b"`), `"a"`, "", "", false},
		{"no_spaces", header("If-None-Match", `"x","a"`), `"a"`, "", "", true},
		{"star", header("If-None-Match", "*"), `"a"`, "", "", true},
		{"star_without_etag", header("If-None-Match", "*"), "", "", "", true},
		{"star_padded", header("If-None-Match", " * "), `"a"`, "", "", true},
		{"star_in_a_list_is_malformed", header("If-None-Match", `"x", *`), `"a"`, "", "", false},
		{"star_first_in_a_list_is_malformed", header("If-None-Match", `*, "x"`), `"a"`, "", "", false},
		{"lower_case_weak_prefix_is_malformed", header("If-None-Match", `w/"a"`), `"a"`, "", "", false},
		{"no_stored_etag", header("If-None-Match", `"a"`), "", lm, "", false},
		{"empty_opaque_tag", header("If-None-Match", `""`), `""`, "", "", true},
		{"unquoted_is_malformed", header("If-None-Match", `a`), `a`, "", "", false},
		{"malformed_stops_list", header("If-None-Match", `"x", junk, "a"`), `"a"`, "", "", false},
		{"unterminated", header("If-None-Match", `"a`), `"a"`, "", "", false},
		{"case_sensitive", header("If-None-Match", `"A"`), `"a"`, "", "", false},
		{"ims_equal", header("If-Modified-Since", lm), "", lm, "", true},
		{"ims_newer_than_lm", header("If-Modified-Since", newer), "", lm, "", true},
		{"ims_older_than_lm", header("If-Modified-Since", older), "", lm, "", false},
		{"ims_ignored_with_inm", header("If-None-Match", `"b"`, "If-Modified-Since", newer), `"a"`, lm, "", false},
		{"ims_ignored_with_inm_match", header("If-None-Match", `"a"`, "If-Modified-Since", older), `"a"`, lm, "", true},
		{"empty_inm_is_absent", header("If-None-Match", " ", "If-Modified-Since", lm), `"a"`, lm, "", true},
		{"ims_invalid", header("If-Modified-Since", "yesterday"), "", lm, "", false},
		{"ims_twice", header("If-Modified-Since", lm, "If-Modified-Since", lm), "", lm, "", false},
		{"lm_invalid", header("If-Modified-Since", lm), "", "invalid", lm, false},
		{"date_fallback", header("If-Modified-Since", lm), "", "", older, true},
		{"date_fallback_newer", header("If-Modified-Since", lm), "", "", newer, false},
		{"no_dates", header("If-Modified-Since", lm), "", "", "", false},
		{"ims_rfc850", header("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT"), "", lm, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NotModified(tt.req, tt.etag, tt.lm, tt.date); got != tt.want {
				t.Errorf("NotModified(%v, %q, %q, %q) = %v, want %v", tt.req, tt.etag, tt.lm, tt.date, got, tt.want)
			}
		})
	}
}

func TestIsConditional(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{"none", header("If-Match", `"a"`), false},
		{"if_none_match", header("If-None-Match", `"a"`), true},
		{"if_modified_since", header("If-Modified-Since", httpDate(t0)), true},
		{"empty", header("If-None-Match", ""), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsConditional(tt.h); got != tt.want {
				t.Errorf("IsConditional(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}

func TestNotModifiedHeadersCanonical(t *testing.T) {
	for _, name := range NotModifiedHeaders {
		if c := http.CanonicalHeaderKey(name); c != name {
			t.Errorf("NotModifiedHeaders has %q, want canonical %q", name, c)
		}
	}
	for _, name := range []string{"Content-Location", "Date", "Etag", "Vary", "Cache-Control", "Expires"} {
		if !slices.Contains(NotModifiedHeaders, name) {
			t.Errorf("NotModifiedHeaders lacks %q (RFC 9110 §15.4.5)", name)
		}
	}
}
