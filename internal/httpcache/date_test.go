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
		// Like http.ParseTime, the slow path ignores the case of names.
		{"sun, 06 Nov 1994 08:49:37 GMT", t0, true},
		{"Sun, 06 nov 1994 08:49:37 GMT", t0, true},
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

// FuzzParseHTTPDate checks the IMF-fixdate fast path against http.ParseTime.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Thu, 29 Feb 2023 00:00:00 GMT",
		"Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994", "Mon, 00 Jan 0000 00:00:00 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIMFFixdate(s)
		if !ok {
			return
		}
		want, err := http.ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseIMFFixdate(%q) = %v; http.ParseTime = %v, %v", s, got, want, err)
		}
	})
}
