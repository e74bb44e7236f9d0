package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Expires values outside the HTTP-date grammar mean "already expired"
// (RFC 9111 §5.3); the obsolete forms and other letter cases are dates.
func TestExpiresGrammar(t *testing.T) {
	future := time.Now().Add(time.Hour).UTC()
	tests := []struct {
		name, expires string
		hit           bool
	}{
		{"imf_fixdate", future.Format(http.TimeFormat), true},
		{"lower_case_names", lowerNames(future.Format(http.TimeFormat)), true},
		{"rfc850", future.Format("Monday, 02-Jan-06 15:04:05 GMT"), true},
		{"asctime", future.Format("Mon Jan _2 15:04:05 2006"), true},
		// Tomorrow at 9: a future date for a lenient parser (http.ParseTime).
		{"one_digit_hour", future.Add(24*time.Hour).Format("Mon, 02 Jan 2006 ") + "9:00:00 GMT", false},
		{"double_space", future.Format("Mon,  02 Jan 2006 15:04:05 GMT"), false},
		{"numeric_zone", future.Format("Mon, 02 Jan 2006 15:04:05 -0700"), false},
		{"zero", "0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Expires", tt.expires)
				w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
				fmt.Fprint(w, "x")
			})
			s := newGateway(t, o, nil, func(o *Options) { o.Now = time.Now })
			s.do(t, "GET", "/e")
			second := s.do(t, "GET", "/e")
			if got := second.xcache() == "HIT"; got != tt.hit {
				t.Errorf("Expires %q: second request %s (Cache-Status %q), want hit=%v", tt.expires, second.xcache(), second.header.Get("Cache-Status"), tt.hit)
			}
		})
	}
}

func lowerNames(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
