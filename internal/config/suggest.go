package config

import (
	"fmt"
	"strings"
)

// closest returns the candidate a mistyped name most likely meant: the same name up to case and
// '-' versus '_', a prefix of it or it of the candidate, or one within two edits (a swap of
// neighbours counts as one). ok is false when nothing is that close.
func closest(name string, candidates []string) (best string, ok bool) {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	n := norm(name)
	bestDist := 3
	for _, c := range candidates {
		nc := norm(c)
		d := editDistance(n, nc)
		if d > 0 && len(n) >= 3 && len(nc) >= 3 && (strings.HasPrefix(nc, n) || strings.HasPrefix(n, nc)) {
			d = 1
		}
		if d < bestDist && d < len(n) {
			best, bestDist = c, d
		}
	}
	return best, best != ""
}

// editDistance is the optimal string alignment distance between a and b (Levenshtein plus
// transposition of adjacent bytes). Names here are short, so the O(len(a)·len(b)) table is fine;
// long inputs are capped so that a hostile key costs little.
func editDistance(a, b string) int {
	const limit = 64
	if len(a) > limit || len(b) > limit {
		if a == b {
			return 0
		}
		return limit
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// oneOf formats a "not one of" message with a suggestion: `"warning" is not one of debug, info,
// warn, error (did you mean "warn"?)`.
func oneOf(got string, allowed []string) string {
	msg := fmt.Sprintf("%q is not one of %s", got, strings.Join(allowed, ", "))
	if s, ok := closest(got, allowed); ok {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg
}
