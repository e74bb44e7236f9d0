package httpcache

import (
	"net/http"
	"strings"
	"time"
)

// InitialAge returns corrected_initial_age (RFC 9111 §4.2.3):
//
//	apparent_age          = max(0, response_time - date_value)
//	response_delay        = response_time - request_time
//	corrected_age_value   = age_value + response_delay
//	corrected_initial_age = max(apparent_age, corrected_age_value)
//
// requestTime is when the request was sent, responseTime when the response
// was received. Per §5.1 only the first member of Age is used and an invalid
// Age is ignored; a missing or invalid Date gives an apparent age of 0; a
// negative response delay (clocks went backwards) counts as 0.
//
// Date has one-second resolution (an HTTP-date truncates to the second),
// so an apparent age below one second is rounding, not age: it is taken as
// 0, and larger ones lose that second. Otherwise a fresh response would
// start up to a second old, which costs a 2s TTL half its life.
func InitialAge(h http.Header, requestTime, responseTime time.Time) time.Duration {
	var apparent time.Duration
	if date, ok := headerDate(h, "Date"); ok {
		apparent = saturate(max(responseTime.Sub(date)-time.Second, 0))
	}
	delay := saturate(responseTime.Sub(requestTime))
	return saturate(max(apparent, ageValue(h)+delay))
}

// CurrentAge returns initialAge plus the time the response has been resident
// in the cache, now - responseTime (RFC 9111 §4.2.3). It is never negative,
// even if now is before responseTime, and saturates at 2^31 seconds.
func CurrentAge(initialAge time.Duration, responseTime, now time.Time) time.Duration {
	return saturate(saturate(initialAge) + saturate(now.Sub(responseTime)))
}

// ageValue parses the Age field (RFC 9111 §5.1): first field line, first list
// member, delta-seconds; anything invalid counts as 0.
func ageValue(h http.Header) time.Duration {
	lines := h["Age"]
	if len(lines) == 0 {
		return 0
	}
	v := lines[0]
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	age, _ := parseDelta(trimOWS(v), false)
	return age
}
