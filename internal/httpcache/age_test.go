package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func TestInitialAge(t *testing.T) {
	const s = time.Second
	requestTime := t0
	tests := []struct {
		name         string
		h            http.Header
		responseTime time.Time
		want         time.Duration
	}{
		{"fresh_from_origin", header("Date", httpDate(t0)), t0, 0},
		{"response_delay", header("Date", httpDate(t0)), t0.Add(2 * s), 2 * s},
		// corrected_age_value = 100 + 2 beats apparent_age = 2.
		{"age_plus_delay", header("Age", "100", "Date", httpDate(t0)), t0.Add(2 * s), 102 * s},
		// The origin's clock is 60s behind: apparent_age = 62 - 1 (Date's
		// resolution) beats 10 + 2.
		{"date_skew_apparent_age_wins", header("Age", "10", "Date", httpDate(t0.Add(-60*s))), t0.Add(2 * s), 61 * s},
		// Date truncated to the second: under a second of apparent age is
		// rounding, not age.
		{"date_truncation_is_not_age", header("Date", httpDate(t0.Add(-800*time.Millisecond))), t0, 0},
		// The origin's clock is ahead: apparent_age clamps to 0.
		{"date_in_future", header("Age", "10", "Date", httpDate(t0.Add(time.Hour))), t0.Add(2 * s), 12 * s},
		{"no_date", header("Age", "30"), t0.Add(s), 31 * s},
		{"invalid_date", header("Age", "30", "Date", "now"), t0.Add(s), 31 * s},
		{"invalid_age_ignored", header("Age", "-5", "Date", httpDate(t0)), t0.Add(s), s},
		{"age_list_uses_first", header("Age", "7, 900", "Date", httpDate(t0)), t0, 7 * s},
		{"age_lines_use_first", header("Age", "7", "Age", "900"), t0, 7 * s},
		{"age_overflow_saturates", header("Age", "99999999999999999999"), t0.Add(s), maxDelta},
		{"response_before_request", header("Age", "5"), t0.Add(-s), 5 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InitialAge(tt.h, requestTime, tt.responseTime); got != tt.want {
				t.Errorf("InitialAge() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCurrentAge(t *testing.T) {
	tests := []struct {
		name    string
		initial time.Duration
		now     time.Time
		want    time.Duration
	}{
		{"at_receipt", 5 * time.Second, t0, 5 * time.Second},
		{"resident", 5 * time.Second, t0.Add(time.Minute), 65 * time.Second},
		{"clock_went_back", 5 * time.Second, t0.Add(-time.Minute), 5 * time.Second},
		{"negative_initial", -time.Hour, t0.Add(time.Second), time.Second},
		{"saturates", maxDelta, t0.Add(time.Hour), maxDelta},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CurrentAge(tt.initial, t0, tt.now); got != tt.want {
				t.Errorf("CurrentAge() = %v, want %v", got, tt.want)
			}
		})
	}
}
