package loadgen

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Row is one line of a Table.
type Row struct {
	Name   string
	Result Result
	// OriginRequests is how many requests reached the origin during the
	// run, as the origin counted them.
	OriginRequests int64
	// ShowHitRatio prints the hit ratio; otherwise the column shows "-", as
	// for load sent straight at the origin.
	ShowHitRatio bool
}

// Table writes rows as an aligned table, one line per row, followed by a
// note for each row whose requests failed; see the example. It is for a
// terminal, so write errors are ignored.
func Table(w io.Writer, rows []Row) {
	width := 0
	for _, r := range rows {
		width = max(width, len([]rune(r.Name)))
	}
	const format = "  %-*s %12s %9s %9s %11s %17s\n"
	fmt.Fprintf(w, format, width, "", "requests/s", "p50", "p99", "hit ratio", "origin requests")
	for _, r := range rows {
		hitRatio := "-"
		if r.ShowHitRatio {
			hitRatio = fmt.Sprintf("%.1f%%", r.Result.HitRatio*100)
		}
		fmt.Fprintf(w, format, width, r.Name, thousands(int64(math.Round(r.Result.RPS))),
			latency(r.Result.P50), latency(r.Result.P99), hitRatio, thousands(r.OriginRequests))
	}
	for _, r := range rows {
		if r.Result.Errors > 0 {
			fmt.Fprintf(w, "  %s: %s of %s requests failed\n", r.Name, thousands(r.Result.Errors), thousands(r.Result.Requests))
		}
	}
}

// latency prints d in the unit a reader compares at a glance.
func latency(d time.Duration) string {
	switch {
	case d < 100*time.Microsecond:
		return strconv.FormatInt(d.Microseconds(), 10) + "µs"
	case d < 10*time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	}
}

// thousands formats n with comma separators: 12300 is "12,300".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return sign + s
}
