package httpcache

import (
	"net/http"
	"testing"
	"time"
)

// t0 is the reference "now" of the tests: Sun, 06 Nov 1994 08:49:37 GMT,
// the date RFC 9110 §5.6.7 uses.
var t0 = time.Date(1994, time.November, 6, 8, 49, 37, 0, time.UTC)

func httpDate(t time.Time) string { return t.UTC().Format(http.TimeFormat) }

func TestFreshnessLifetime(t *testing.T) {
	date := httpDate(t0)
	tests := []struct {
		name         string
		h            http.Header
		responseTime time.Time
		want         time.Duration
		wantOK       bool
	}{
		{"none", header("Date", date), t0, 0, false},
		{"max_age", header("Cache-Control", "max-age=300"), t0, 300 * time.Second, true},
		{"s_maxage_beats_max_age", header("Cache-Control", "max-age=300, s-maxage=60"), t0, time.Minute, true},
		{"s_maxage_zero_beats_max_age", header("Cache-Control", "s-maxage=0, max-age=300"), t0, 0, true},
		{"max_age_beats_expires", header("Cache-Control", "max-age=10", "Date", date,
			"Expires", httpDate(t0.Add(time.Hour))), t0, 10 * time.Second, true},
		{"invalid_max_age_beats_expires", header("Cache-Control", "max-age=ten", "Date", date,
			"Expires", httpDate(t0.Add(time.Hour))), t0, 0, true},
		{"expires_minus_date", header("Date", date, "Expires", httpDate(t0.Add(time.Hour))),
			t0.Add(5 * time.Second), time.Hour, true},
		{"expires_missing_date_uses_response_time", header("Expires", httpDate(t0.Add(time.Hour))),
			t0.Add(10 * time.Minute), 50 * time.Minute, true},
		{"expires_invalid_date_uses_response_time", header("Date", "yesterday", "Expires", httpDate(t0.Add(time.Hour))),
			t0, time.Hour, true},
		{"expires_in_the_past", header("Date", date, "Expires", httpDate(t0.Add(-time.Hour))), t0, 0, true},
		{"expires_equal_date", header("Date", date, "Expires", date), t0, 0, true},
		{"expires_zero_is_expired", header("Date", date, "Expires", "0"), t0, 0, true},
		{"expires_minus_one_is_expired", header("Expires", "-1"), t0, 0, true},
		{"expires_garbage_is_expired", header("Expires", "Thu, 99 Zzz 1970"), t0, 0, true},
		{"expires_twice_is_expired", header("Date", date, "Expires", httpDate(t0.Add(time.Hour)),
			"Expires", httpDate(t0.Add(time.Hour))), t0, 0, true},
		{"expires_rfc850", header("Date", date, "Expires", "Sunday, 06-Nov-94 09:49:37 GMT"), t0, time.Hour, true},
		{"expires_asctime", header("Date", date, "Expires", "Sun Nov  6 09:49:37 1994"), t0, time.Hour, true},
		{"expires_far_future_saturates", header("Date", date, "Expires", "Fri, 31 Dec 9999 23:59:59 GMT"),
			t0, maxDelta, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ParseResponseDirectives(tt.h)
			got, ok := FreshnessLifetime(tt.h, d, tt.responseTime)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("FreshnessLifetime() = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestHeuristicFreshness(t *testing.T) {
	const day = 24 * time.Hour
	date := httpDate(t0)
	tenDaysOld := httpDate(t0.Add(-10 * day))
	tests := []struct {
		name   string
		status int
		h      http.Header
		max    time.Duration
		want   time.Duration
		wantOK bool
	}{
		{"ten_percent", 200, header("Date", date, "Last-Modified", tenDaysOld), 7 * day, day, true},
		{"capped", 200, header("Date", date, "Last-Modified", tenDaysOld), time.Hour, time.Hour, true},
		{"missing_date_uses_response_time", 200, header("Last-Modified", tenDaysOld), 7 * day, day, true},
		{"404", 404, header("Date", date, "Last-Modified", tenDaysOld), 7 * day, day, true},
		{"501", 501, header("Date", date, "Last-Modified", tenDaysOld), 7 * day, day, true},
		{"500_not_allowed", 500, header("Date", date, "Last-Modified", tenDaysOld), 7 * day, 0, false},
		{"302_not_allowed", 302, header("Date", date, "Last-Modified", tenDaysOld), 7 * day, 0, false},
		{"302_public_allowed", 302, header("Cache-Control", "public", "Date", date, "Last-Modified", tenDaysOld), 7 * day, day, true},
		{"no_last_modified", 200, header("Date", date), 7 * day, 0, false},
		{"invalid_last_modified", 200, header("Date", date, "Last-Modified", "last week"), 7 * day, 0, false},
		{"last_modified_after_date", 200, header("Date", date, "Last-Modified", httpDate(t0.Add(time.Hour))), 7 * day, 0, true},
		{"explicit_max_age", 200, header("Cache-Control", "max-age=5", "Date", date, "Last-Modified", tenDaysOld), 7 * day, 0, false},
		{"explicit_expires", 200, header("Expires", "0", "Date", date, "Last-Modified", tenDaysOld), 7 * day, 0, false},
		{"heuristics_off", 200, header("Date", date, "Last-Modified", tenDaysOld), 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ParseResponseDirectives(tt.h)
			got, ok := HeuristicFreshness(tt.status, tt.h, d, t0, tt.max)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("HeuristicFreshness() = %v, %v; want %v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestHeuristicallyCacheable(t *testing.T) {
	cacheable := map[int]bool{200: true, 203: true, 204: true, 206: true, 300: true, 301: true,
		308: true, 404: true, 405: true, 410: true, 414: true, 501: true}
	for status := 100; status < 600; status++ {
		if got := HeuristicallyCacheable(status); got != cacheable[status] {
			t.Errorf("HeuristicallyCacheable(%d) = %v, want %v", status, got, cacheable[status])
		}
	}
}
