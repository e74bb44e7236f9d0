package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestStorable(t *testing.T) {
	lastModified := httpDate(t0.Add(-10 * 24 * time.Hour))
	tests := []struct {
		name       string
		method     string
		status     int
		reqCC      string
		resp       http.Header
		auth       bool
		override   bool
		heuristics time.Duration
		wantReason string // "" means storable
	}{
		{"get_max_age", "GET", 200, "", header("Cache-Control", "max-age=60"), false, false, 0, ""},
		{"get_s_maxage", "GET", 200, "", header("Cache-Control", "s-maxage=60"), false, false, 0, ""},
		{"get_expires", "GET", 200, "", header("Expires", httpDate(t0.Add(time.Hour))), false, false, 0, ""},
		{"get_invalid_expires_still_explicit", "GET", 200, "", header("Expires", "0"), false, false, 0, ""},
		{"get_public", "GET", 200, "", header("Cache-Control", "public"), false, false, 0, ""},
		{"public_302", "GET", 302, "", header("Cache-Control", "public"), false, false, 0, ""},
		{"explicit_500", "GET", 500, "", header("Cache-Control", "max-age=5"), false, false, 0, ""},
		{"heuristic", "GET", 200, "", header("Last-Modified", lastModified), false, false, time.Hour, ""},
		{"heuristic_404", "GET", 404, "", header("Last-Modified", lastModified), false, false, time.Hour, ""},
		{"heuristic_off", "GET", 200, "", header("Last-Modified", lastModified), false, false, 0, ReasonNoFreshness},
		{"heuristic_500_not_allowed", "GET", 500, "", header("Last-Modified", lastModified), false, false, time.Hour, ReasonNoFreshness},
		{"override", "GET", 200, "", header(), false, true, 0, ""},
		{"override_410", "GET", 410, "", header(), false, true, 0, ""},
		{"override_302_not_allowed", "GET", 302, "", header(), false, true, 0, ReasonNoFreshness},
		{"override_500_not_allowed", "GET", 500, "", header(), false, true, 0, ReasonNoFreshness},
		{"no_cache_with_etag", "GET", 200, "", header("Cache-Control", "no-cache", "ETag", `"v1"`), false, false, 0, ""},
		{"no_cache_with_last_modified", "GET", 200, "", header("Cache-Control", "no-cache", "Last-Modified", lastModified), false, false, 0, ""},
		{"no_cache_without_validator", "GET", 200, "", header("Cache-Control", "no-cache"), false, false, 0, ReasonNoFreshness},
		{"etag_alone", "GET", 200, "", header("ETag", `"v1"`), false, false, 0, ReasonNoFreshness},
		{"nothing", "GET", 200, "", header(), false, false, time.Hour, ReasonNoFreshness},

		{"head", "HEAD", 200, "", header("Cache-Control", "max-age=60"), false, false, 0, ReasonMethod},
		{"post", "POST", 200, "", header("Cache-Control", "max-age=60"), false, false, 0, ReasonMethod},
		{"lowercase_get", "get", 200, "", header("Cache-Control", "max-age=60"), false, false, 0, ReasonMethod},
		{"request_no_store", "GET", 200, "no-store", header("Cache-Control", "max-age=60"), false, false, 0, ReasonNoStore},
		{"response_no_store", "GET", 200, "", header("Cache-Control", "max-age=60, no-store"), false, false, 0, ReasonNoStore},
		{"must_understand_overrides_no_store", "GET", 200, "", header("Cache-Control", "max-age=60, no-store, must-understand"), false, false, 0, ""},
		{"must_understand_unknown_status", "GET", 299, "", header("Cache-Control", "max-age=60, no-store, must-understand"), false, false, 0, ReasonStatus},
		{"unknown_status_with_max_age", "GET", 299, "", header("Cache-Control", "max-age=60"), false, false, 0, ""},
		{"private", "GET", 200, "", header("Cache-Control", "private, max-age=60"), false, false, 0, ReasonPrivate},
		{"private_qualified", "GET", 200, "", header("Cache-Control", `private="Set-Cookie", max-age=60`), false, false, 0, ReasonPrivate},
		{"authorization", "GET", 200, "", header("Cache-Control", "max-age=60"), true, false, 0, ReasonAuthorization},
		{"authorization_override", "GET", 200, "", header(), true, true, 0, ReasonAuthorization},
		{"authorization_public", "GET", 200, "", header("Cache-Control", "public"), true, false, 0, ""},
		{"authorization_s_maxage", "GET", 200, "", header("Cache-Control", "s-maxage=60"), true, false, 0, ""},
		{"authorization_must_revalidate", "GET", 200, "", header("Cache-Control", "must-revalidate, max-age=60"), true, false, 0, ""},
		{"authorization_must_revalidate_no_freshness", "GET", 200, "", header("Cache-Control", "must-revalidate"), true, false, 0, ReasonNoFreshness},
		{"vary_star", "GET", 200, "", header("Cache-Control", "max-age=60", "Vary", "Accept, *"), false, false, 0, ReasonVaryStar},
		{"vary_star_second_line", "GET", 200, "", header("Cache-Control", "max-age=60", "Vary", "Accept", "Vary", " * "), false, false, 0, ReasonVaryStar},
		{"vary_fields", "GET", 200, "", header("Cache-Control", "max-age=60", "Vary", "Accept-Encoding"), false, false, 0, ""},
		{"informational", "GET", 103, "", header("Cache-Control", "max-age=60"), false, false, 0, ReasonStatus},
		{"not_modified", "GET", 304, "", header("Cache-Control", "max-age=60"), false, false, 0, ReasonStatus},
		{"status_out_of_range", "GET", 600, "", header("Cache-Control", "max-age=60"), false, false, 0, ReasonStatus},
		{"partial", "GET", 206, "", header("Cache-Control", "max-age=60"), false, false, 0, ReasonPartial},
		{"content_range", "GET", 200, "", header("Cache-Control", "max-age=60", "Content-Range", "bytes 0-9/100"), false, false, 0, ReasonPartial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := StoreInput{
				Method:               tt.method,
				Status:               tt.status,
				ReqDirectives:        ParseRequestDirectives(header("Cache-Control", tt.reqCC)),
				RespDirectives:       ParseResponseDirectives(tt.resp),
				RespHeader:           tt.resp,
				ReqHasAuthorization:  tt.auth,
				HasFreshnessOverride: tt.override,
				HeuristicMax:         tt.heuristics,
				ResponseTime:         t0,
			}
			ok, reason := Storable(in)
			if ok != (tt.wantReason == "") || reason != tt.wantReason {
				t.Errorf("Storable() = %v, %q; want %v, %q", ok, reason, tt.wantReason == "", tt.wantReason)
			}
		})
	}
}

func TestStorableNilHeader(t *testing.T) {
	ok, reason := Storable(StoreInput{Method: http.MethodGet, Status: 200})
	if ok || reason != ReasonNoFreshness {
		t.Errorf("Storable(zero header) = %v, %q; want false, %q", ok, reason, ReasonNoFreshness)
	}
}
