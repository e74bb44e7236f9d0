package httpcache

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestParseResponseDirectives(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name  string
		lines []string
		want  ResponseDirectives
	}{
		{"none", nil, ResponseDirectives{}},
		{"empty", []string{""}, ResponseDirectives{}},
		{"typical", []string{"public, max-age=300"},
			ResponseDirectives{Public: true, MaxAge: 300 * s, HasMaxAge: true}},
		{"case_insensitive_names", []string{"PUBLIC, Max-Age=60, S-MAXAGE=30"},
			ResponseDirectives{Public: true, MaxAge: 60 * s, HasMaxAge: true, SMaxAge: 30 * s, HasSMaxAge: true}},
		{"odd_spacing", []string{" ,\tmax-age = 60 ,, no-transform\t,"},
			ResponseDirectives{MaxAge: 60 * s, HasMaxAge: true, NoTransform: true}},
		{"quoted_number", []string{`max-age="60"`},
			ResponseDirectives{MaxAge: 60 * s, HasMaxAge: true}},
		{"quoted_number_with_quoted_pair", []string{`max-age="6\0"`},
			ResponseDirectives{MaxAge: 60 * s, HasMaxAge: true}},
		{"leading_zeros", []string{"max-age=0060"},
			ResponseDirectives{MaxAge: 60 * s, HasMaxAge: true}},
		{"invalid_max_age_is_stale", []string{"max-age=abc"},
			ResponseDirectives{HasMaxAge: true}},
		{"negative_max_age_is_stale", []string{"max-age=-1"},
			ResponseDirectives{HasMaxAge: true}},
		{"fractional_max_age_is_stale", []string{"max-age=1.5"},
			ResponseDirectives{HasMaxAge: true}},
		{"max_age_without_value_is_stale", []string{"max-age"},
			ResponseDirectives{HasMaxAge: true}},
		{"max_age_empty_value_is_stale", []string{"max-age=, public"},
			ResponseDirectives{HasMaxAge: true, Public: true}},
		{"max_age_junk_after_quotes_is_stale", []string{`max-age="60"x, public`},
			ResponseDirectives{HasMaxAge: true, Public: true}},
		{"max_age_unterminated_quote_is_stale", []string{`max-age="60, public`},
			ResponseDirectives{HasMaxAge: true}},
		{"overflow_saturates", []string{"max-age=99999999999999999999999"},
			ResponseDirectives{MaxAge: maxDelta, HasMaxAge: true}},
		{"exactly_2_31", []string{"s-maxage=2147483648"},
			ResponseDirectives{SMaxAge: maxDelta, HasSMaxAge: true}},
		{"duplicate_keeps_smallest", []string{"max-age=600, max-age=60", "max-age=120"},
			ResponseDirectives{MaxAge: 60 * s, HasMaxAge: true}},
		{"duplicate_with_invalid_is_stale", []string{"max-age=600, max-age=x"},
			ResponseDirectives{HasMaxAge: true}},
		{"multiple_field_lines", []string{"public", "max-age=10", "stale-while-revalidate=30, stale-if-error=86400"},
			ResponseDirectives{Public: true, MaxAge: 10 * s, HasMaxAge: true,
				StaleWhileRevalidate: 30 * s, HasStaleWhileRevalidate: true,
				StaleIfError: 86400 * s, HasStaleIfError: true}},
		{"booleans", []string{"no-store, must-revalidate, proxy-revalidate, must-understand, immutable"},
			ResponseDirectives{NoStore: true, MustRevalidate: true, ProxyRevalidate: true, MustUnderstand: true, Immutable: true}},
		{"unknown_ignored", []string{`community="UCI", foo=bar, max-age=5, x-y`},
			ResponseDirectives{MaxAge: 5 * s, HasMaxAge: true}},
		{"unknown_with_quoted_comma", []string{`ext="a, max-age=1", max-age=9`},
			ResponseDirectives{MaxAge: 9 * s, HasMaxAge: true}},
		{"no_cache_unqualified", []string{"no-cache"},
			ResponseDirectives{NoCache: true}},
		{"no_cache_qualified", []string{`no-cache="set-cookie, X-Foo"`},
			ResponseDirectives{NoCache: true, NoCacheFields: []string{"Set-Cookie", "X-Foo"}}},
		{"no_cache_token_form", []string{`no-cache=set-cookie`},
			ResponseDirectives{NoCache: true, NoCacheFields: []string{"Set-Cookie"}}},
		{"no_cache_qualified_merged_and_deduplicated", []string{`no-cache="a"`, `no-cache="b, A"`},
			ResponseDirectives{NoCache: true, NoCacheFields: []string{"A", "B"}}},
		{"no_cache_unqualified_wins", []string{`no-cache="a", no-cache`},
			ResponseDirectives{NoCache: true}},
		{"no_cache_empty_list_is_unqualified", []string{`no-cache=""`},
			ResponseDirectives{NoCache: true}},
		{"no_cache_only_commas_is_unqualified", []string{`no-cache=" , "`},
			ResponseDirectives{NoCache: true}},
		{"no_cache_malformed_is_unqualified", []string{`no-cache="a"b`},
			ResponseDirectives{NoCache: true}},
		{"private_qualified", []string{`private="x-user"`},
			ResponseDirectives{Private: true, PrivateFields: []string{"X-User"}}},
		{"private_qualified_with_quoted_pair", []string{`private="x-\user"`},
			ResponseDirectives{Private: true, PrivateFields: []string{"X-User"}}},
		{"private_unqualified", []string{"private, max-age=0"},
			ResponseDirectives{Private: true, HasMaxAge: true}},
		{"name_with_space_is_unknown", []string{"max age=60"}, ResponseDirectives{}},
		{"name_too_long_is_unknown", []string{"stale-while-revalidate-x=5"}, ResponseDirectives{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, l := range tt.lines {
				h.Add("Cache-Control", l)
			}
			if got := ParseResponseDirectives(h); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseResponseDirectives(%q)\n got %+v\nwant %+v", tt.lines, got, tt.want)
			}
		})
	}
}

func TestParseRequestDirectives(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name string
		h    http.Header
		want RequestDirectives
	}{
		{"none", header(), RequestDirectives{}},
		{"max_age", header("Cache-Control", "max-age=0"), RequestDirectives{HasMaxAge: true}},
		{"all", header("Cache-Control", `No-Cache, no-store, ONLY-IF-CACHED, no-transform, max-age="5", min-fresh=7, max-stale=9`),
			RequestDirectives{NoCache: true, NoStore: true, OnlyIfCached: true, NoTransform: true,
				MaxAge: 5 * s, HasMaxAge: true, MinFresh: 7 * s, HasMinFresh: true, MaxStale: 9 * s, HasMaxStale: true}},
		{"max_stale_any", header("Cache-Control", "max-stale"), RequestDirectives{MaxStaleAny: true}},
		{"max_stale_value_beats_any", header("Cache-Control", "max-stale, max-stale=30"),
			RequestDirectives{MaxStale: 30 * s, HasMaxStale: true}},
		{"max_stale_invalid_is_zero", header("Cache-Control", "max-stale=soon"),
			RequestDirectives{HasMaxStale: true}},
		{"max_age_invalid_is_zero", header("Cache-Control", "max-age=x"), RequestDirectives{HasMaxAge: true}},
		{"max_age_duplicate_keeps_smallest", header("Cache-Control", "max-age=50", "Cache-Control", "max-age=20"),
			RequestDirectives{MaxAge: 20 * s, HasMaxAge: true}},
		{"min_fresh_duplicate_keeps_largest", header("Cache-Control", "min-fresh=5, min-fresh=50, min-fresh=10"),
			RequestDirectives{MinFresh: 50 * s, HasMinFresh: true}},
		{"min_fresh_invalid_ignored", header("Cache-Control", "min-fresh=-3"), RequestDirectives{}},
		{"overflow_saturates", header("Cache-Control", "max-stale=1000000000000"),
			RequestDirectives{MaxStale: maxDelta, HasMaxStale: true}},
		{"response_only_directives_ignored", header("Cache-Control", "public, private, s-maxage=5, must-revalidate"),
			RequestDirectives{}},
		{"pragma_no_cache", header("Pragma", "no-cache"), RequestDirectives{NoCache: true}},
		{"pragma_no_cache_in_list", header("Pragma", "x-foo, NO-CACHE"), RequestDirectives{NoCache: true}},
		{"pragma_no_cache_with_argument", header("Pragma", "no-cache=x"), RequestDirectives{NoCache: true}},
		{"pragma_other", header("Pragma", "x-no-cache"), RequestDirectives{}},
		{"pragma_ignored_with_cache_control", header("Pragma", "no-cache", "Cache-Control", "max-age=10"),
			RequestDirectives{MaxAge: 10 * s, HasMaxAge: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseRequestDirectives(tt.h); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRequestDirectives(%v)\n got %+v\nwant %+v", tt.h, got, tt.want)
			}
		})
	}
}

func TestMustRevalidateStale(t *testing.T) {
	tests := []struct {
		cc   string
		want bool
	}{
		{"max-age=60", false},
		{"max-age=60, stale-if-error=60", false},
		{"must-revalidate", true},
		{"proxy-revalidate", true},
		{"s-maxage=60", true},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			d := ParseResponseDirectives(header("Cache-Control", tt.cc))
			if got := d.MustRevalidateStale(); got != tt.want {
				t.Errorf("MustRevalidateStale() = %v, want %v", got, tt.want)
			}
		})
	}
}
