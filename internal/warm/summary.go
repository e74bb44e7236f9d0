package warm

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Print writes a short report of s for people, such as
//
//	warmed 10000 of 10000 URLs in 20s (500/s): 9990 ok, 10 failed (2 without a response)
//	cache: 9870 stored, 120 already cached, 0 neither (not cacheable?)
//	status: 200 ×9988, 301 ×2, 404 ×8
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "warmed %d of %d URLs in %v (%.0f/s): %d ok, %d failed",
		s.Total, s.Planned, roundDuration(s.Duration), s.Rate, s.OK, s.Failed)
	if s.Errors > 0 {
		fmt.Fprintf(w, " (%d without a response)", s.Errors)
	}
	fmt.Fprintln(w)
	responses := s.Total - s.Errors
	neither := max(responses-s.Stored-s.Hits, 0)
	fmt.Fprintf(w, "cache: %d stored, %d already cached, %d neither", s.Stored, s.Hits, neither)
	if neither > 0 {
		fmt.Fprint(w, " (not cacheable, or failed)")
	}
	fmt.Fprintln(w)
	if len(s.ByStatus) > 0 {
		codes := make([]int, 0, len(s.ByStatus))
		for c := range s.ByStatus {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		parts := make([]string, len(codes))
		for i, c := range codes {
			parts[i] = fmt.Sprintf("%d ×%d", c, s.ByStatus[c])
		}
		fmt.Fprintf(w, "status: %s\n", strings.Join(parts, ", "))
	}
	if s.Total < s.Planned {
		fmt.Fprintf(w, "stopped early: %d URLs not warmed\n", s.Planned-s.Total)
	}
}

// Add adds the counts of another run to s (its Duration too: runs one
// after the other).
func (s *Summary) Add(o Summary) {
	s.Planned += o.Planned
	s.Total += o.Total
	s.OK += o.OK
	s.Failed += o.Failed
	s.Errors += o.Errors
	s.Hits += o.Hits
	s.Stored += o.Stored
	s.Bytes += o.Bytes
	if s.ByStatus == nil {
		s.ByStatus = map[int]int64{}
	}
	for k, v := range o.ByStatus {
		s.ByStatus[k] += v
	}
	s.Duration += o.Duration
	if s.Duration > 0 {
		s.Rate = float64(s.Total) / s.Duration.Seconds()
	}
}
