package httpcache

import (
	"net/http"
	"strings"
	"time"
)

// parseHTTPDate parses an HTTP-date (RFC 9110 §5.6.7) as a cache must: the
// grammar's three forms exactly (IMF-fixdate, and the obsolete rfc850-date
// and asctime-date that recipients must still accept), with day, month and
// zone names matched case-insensitively (RFC 9111 §4.2) and GMT the only
// zone. Anything else (a one-digit hour, doubled or missing spaces, a
// numeric or other zone, trailing text) is not a date: an Expires holding it
// means "already expired" (RFC 9111 §5.3), a Date holding it is replaced by
// the time the response arrived. http.ParseTime is not used: it accepts
// one-digit hours and days, which the grammar does not.
func parseHTTPDate(s string) (time.Time, bool) {
	s = trimOWS(s)
	if t, ok := parseIMFFixdate(s); ok {
		return t, true
	}
	if t, ok := parseRFC850Date(s, time.Now()); ok {
		return t, true
	}
	return parseAsctimeDate(s)
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
		!strings.EqualFold(s[25:], " GMT") || dayName(s[:3]) < 0 {
		return time.Time{}, false
	}
	day, ok := digits(s[5:7])
	year, ok2 := digits(s[12:16])
	if !ok || !ok2 {
		return time.Time{}, false
	}
	return dateOf(year, parseMonth(s[8:11]), day, s[17:25])
}

// parseRFC850Date parses "Sunday, 06-Nov-94 08:49:37 GMT". A two-digit year
// more than 50 years after now is the most recent past year with those
// digits (RFC 9110 §5.6.7).
func parseRFC850Date(s string, now time.Time) (time.Time, bool) {
	name, rest, ok := strings.Cut(s, ", ")
	if !ok || longDayName(name) < 0 || len(rest) != len("06-Nov-94 08:49:37 GMT") ||
		rest[2] != '-' || rest[6] != '-' || rest[9] != ' ' || !strings.EqualFold(rest[18:], " GMT") {
		return time.Time{}, false
	}
	day, ok1 := digits(rest[:2])
	yy, ok2 := digits(rest[7:9])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	century := now.Year() / 100 * 100
	year := century + yy
	if year > now.Year()+50 {
		year -= 100
	} else if year < now.Year()-49 {
		year += 100
	}
	return dateOf(year, parseMonth(rest[3:6]), day, rest[10:18])
}

// parseAsctimeDate parses "Sun Nov  6 08:49:37 1994" (a one-digit day is
// padded with a space, a two-digit one is not).
func parseAsctimeDate(s string) (time.Time, bool) {
	if len(s) != len("Sun Nov  6 08:49:37 1994") || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' ||
		s[19] != ' ' || dayName(s[:3]) < 0 {
		return time.Time{}, false
	}
	dd := s[8:10]
	if dd[0] == ' ' {
		dd = dd[1:]
	}
	day, ok1 := digits(dd)
	year, ok2 := digits(s[20:])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	return dateOf(year, parseMonth(s[4:7]), day, s[11:19])
}

// dateOf is the UTC time of year, month, day and "hh:mm:ss", if they name
// one.
func dateOf(year int, month time.Month, day int, hms string) (time.Time, bool) {
	if len(hms) != 8 || hms[2] != ':' || hms[5] != ':' {
		return time.Time{}, false
	}
	hour, ok1 := digits(hms[:2])
	minute, ok2 := digits(hms[3:5])
	sec, ok3 := digits(hms[6:])
	if month == 0 || !ok1 || !ok2 || !ok3 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	if sec == 60 {
		sec = 59 // a leap second (RFC 9110 §5.6.7 allows 60)
	}
	t := time.Date(year, month, day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // 31 Apr, 29 Feb of a common year
		return time.Time{}, false
	}
	return t, true
}

// dayName is the index of a day-name ("Mon"), any case, or -1.
func dayName(s string) int {
	for i, n := range [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"} {
		if len(s) == 3 && strings.EqualFold(s, n) {
			return i
		}
	}
	return -1
}

// longDayName is the index of a day-name-l ("Monday"), any case, or -1.
func longDayName(s string) int {
	for i, n := range [...]string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"} {
		if strings.EqualFold(s, n) {
			return i
		}
	}
	return -1
}

// parseMonth is the month of a three-letter name, any case, or 0.
func parseMonth(s string) time.Month {
	const names = "JanFebMarAprMayJunJulAugSepOctNovDec"
	if len(s) != 3 {
		return 0
	}
	for i := 0; i < len(names); i += 3 {
		if strings.EqualFold(names[i:i+3], s) {
			return time.Month(i/3 + 1)
		}
	}
	return 0
}

// digits parses s, all ASCII digits (at least one).
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
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
