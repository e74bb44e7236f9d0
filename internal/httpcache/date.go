package httpcache

import (
	"net/http"
	"time"
)

// parseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7). The preferred
// IMF-fixdate form takes a fast path that does not allocate (time.Parse
// allocates a location for "GMT"); the obsolete RFC 850 and asctime forms,
// which recipients must still accept, go through http.ParseTime.
func parseHTTPDate(s string) (time.Time, bool) {
	s = trimOWS(s)
	if t, ok := parseIMFFixdate(s); ok {
		return t, true
	}
	// Every HTTP-date form starts with a day name; this rejects the common
	// "Expires: 0" and "-1" without the cost of a failing http.ParseTime.
	if s == "" || !isAlpha(s[0]) {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	return t, err == nil
}

// headerDate parses the first field line of a date-valued field.
func headerDate(h http.Header, name string) (time.Time, bool) {
	v := h[name]
	if len(v) == 0 {
		return time.Time{}, false
	}
	return parseHTTPDate(v[0])
}

// parseIMFFixdate parses "Sun, 06 Nov 1994 08:49:37 GMT" exactly.
func parseIMFFixdate(s string) (time.Time, bool) {
	if len(s) != len("Sun, 06 Nov 1994 08:49:37 GMT") ||
		s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
		s[19] != ':' || s[22] != ':' || s[25:] != " GMT" {
		return time.Time{}, false
	}
	switch s[:3] { // day-name is case-sensitive (RFC 9110 §5.6.7)
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
	default:
		return time.Time{}, false
	}
	month := parseMonth(s[8:11])
	day, ok1 := digits(s[5:7])
	year, ok2 := digits(s[12:16])
	hour, ok3 := digits(s[17:19])
	minute, ok4 := digits(s[20:22])
	sec, ok5 := digits(s[23:25])
	if month == 0 || !ok1 || !ok2 || !ok3 || !ok4 || !ok5 ||
		day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // 31 Apr, 29 Feb of a common year
		return time.Time{}, false
	}
	return t, true
}

func parseMonth(s string) time.Month {
	const names = "JanFebMarAprMayJunJulAugSepOctNovDec"
	for i := 0; i < len(names); i += 3 {
		if names[i:i+3] == s {
			return time.Month(i/3 + 1)
		}
	}
	return 0
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
