package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	tests := []struct {
		in     string
		want   time.Time
		wantOK bool
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", t0, true},
		{" Sun, 06 Nov 1994 08:49:37 GMT ", t0, true},
		{"Sunday, 06-Nov-94 08:49:37 GMT", t0, true},
		{"Sun Nov  6 08:49:37 1994", t0, true},
		{"Thu, 29 Feb 2024 00:00:00 GMT", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"Thu, 29 Feb 2023 00:00:00 GMT", time.Time{}, false},
		{"Sun, 31 Apr 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 24:00:00 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:37 UTC", time.Time{}, false},
		// A cache matches names case-insensitively (RFC 9111 §4.2).
		{"sun, 06 Nov 1994 08:49:37 GMT", t0, true},
		{"Sun, 06 nov 1994 08:49:37 gmt", t0, true},
		{"SUNDAY, 06-NOV-94 08:49:37 GMT", t0, true},
		{"sun nov  6 08:49:37 1994", t0, true},
		{"Sun Nov 06 08:49:37 1994", t0, true},
		{"Sun Nov 16 08:49:37 1994", t0.AddDate(0, 0, 10), true},
		// Not the grammar: one-digit hours, minutes or days, irregular
		// spacing, other zones, trailing text. (http.ParseTime accepts the
		// first three.)
		{"Sun, 06 Nov 1994 8:49:37 GMT", time.Time{}, false},
		{"Sun, 6 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:9:37 GMT", time.Time{}, false},
		{"Sun,  06 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06  Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun,06 Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:37  GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:37 +0000", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:37 GMT+1", time.Time{}, false},
		{"Sunday, 06-Nov-94 8:49:37 GMT", time.Time{}, false},
		{"Sunday, 6-Nov-94 08:49:37 GMT", time.Time{}, false},
		{"Sun, 06-Nov-94 08:49:37 GMT", time.Time{}, false},
		{"Sun Nov 6 08:49:37 1994", time.Time{}, false},
		{"Sun Nov  6 8:49:37 1994", time.Time{}, false},
		{"Sun  Nov  6 08:49:37 1994", time.Time{}, false},
		{"Sun Nov  6 08:49:37 1994 GMT", time.Time{}, false},
		{"Sun, 06 Nov 1994 08:49:60 GMT", time.Date(1994, 11, 6, 8, 49, 59, 0, time.UTC), true},
		{"Sun, 0x Nov 1994 08:49:37 GMT", time.Time{}, false},
		{"0", time.Time{}, false},
		{"", time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := parseHTTPDate(tt.in)
			if !got.Equal(tt.want) || ok != tt.wantOK {
				t.Errorf("parseHTTPDate(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// Two-digit years of rfc850-date (RFC 9110 §5.6.7): one that looks more
// than 50 years in the future is in the past century.
func TestRFC850Years(t *testing.T) {
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	for in, year := range map[string]int{
		"Sunday, 06-Nov-94 08:49:37 GMT":   1994,
		"Thursday, 01-Jan-26 00:00:00 GMT": 2026,
		"Monday, 01-Jan-76 00:00:00 GMT":   2076,
		"Friday, 01-Jan-77 00:00:00 GMT":   1977,
	} {
		got, ok := parseRFC850Date(in, now)
		if !ok || got.Year() != year {
			t.Errorf("%s: %v %v, want year %d", in, got, ok, year)
		}
	}
}

// FuzzParseHTTPDate checks the IMF-fixdate fast path against http.ParseTime.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 29 Feb 2023 00:00:00 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Mon, 00 Jan 0000 00:00:00 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIMFFixdate(s)
		if !ok || s[25:] != " GMT" || s[23:25] == "60" {
			return // a lower-case zone or a leap second: accepted here, not by http.ParseTime
		}
		want, err := http.ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseIMFFixdate(%q) = %v; http.ParseTime = %v, %v", s, got, want, err)
		}
	})
}
