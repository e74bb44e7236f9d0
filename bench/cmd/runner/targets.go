package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// target is one goal of issue #17, stated as a ratio of moat's result to
// another system's in one scenario.
type target struct {
	name     string
	scenario string
	other    string // the system moat is held to
	measure  measure
	goal     float64
}

// measure turns moat's and the other system's results into the ratio a
// target is about. ok is false when a figure it needs is missing.
type measure struct {
	label   string // how the ratio is made; %s is the other system
	ratio   func(moat, other *Result) (float64, bool)
	atMost  bool // met when the ratio is at most the goal (a cost); else at least
	percent bool // shown as a percentage
}

var (
	// byRPS is moat's req/s over the other's.
	byRPS = measure{label: "req/s, moat/%s", ratio: func(m, o *Result) (float64, bool) { return div(m.RPS, o.RPS) }}
	// byCPUShare is the other's CPU per request over moat's: the share of
	// the other's efficiency moat reaches.
	byCPUShare = measure{label: "CPU/req, %s/moat", percent: true, ratio: func(m, o *Result) (float64, bool) {
		if m.CPUUSPerReq == nil || o.CPUUSPerReq == nil {
			return 0, false
		}
		return div(*o.CPUUSPerReq, *m.CPUUSPerReq)
	}}
	// byCPUCost is moat's CPU per request over the other's.
	byCPUCost = measure{label: "CPU/req, moat/%s", atMost: true, ratio: func(m, o *Result) (float64, bool) {
		if m.CPUUSPerReq == nil || o.CPUUSPerReq == nil {
			return 0, false
		}
		return div(*m.CPUUSPerReq, *o.CPUUSPerReq)
	}}
	// byP99 is moat's p99 latency over the other's.
	byP99 = measure{label: "p99, moat/%s", atMost: true, ratio: func(m, o *Result) (float64, bool) { return div(m.P99MS, o.P99MS) }}
	// byRPSCost is the other's req/s over moat's: how much more a moat
	// request costs than one of the other's, at the same concurrency on
	// the same cores.
	byRPSCost = measure{label: "req/s, %s/moat", atMost: true, ratio: func(m, o *Result) (float64, bool) { return div(o.RPS, m.RPS) }}
)

func div(a, b float64) (float64, bool) {
	if a <= 0 || b <= 0 {
		return 0, false
	}
	return a / b, true
}

// targets are issue #17's goals, in the order the issue lists them.
var targets = []target{
	{"hits 1 KiB vs nginx", "hit-1k-c64", "nginx", byRPS, 1.2},
	{"hits 1 KiB vs Varnish", "hit-1k-c64", "varnish", byRPS, 1.1},
	{"hits 16 KiB vs nginx", "hit-16k-c64", "nginx", byRPS, 1.2},
	{"hits 16 KiB vs Varnish", "hit-16k-c64", "varnish", byRPS, 1.1},
	{"hits 1 KiB vs the ceiling, by CPU", "hit-1k-c64", "ceiling", byCPUShare, 0.95},
	{"hit p99 vs nginx, c64", "hit-1k-c64", "nginx", byP99, 1},
	{"hit p99 vs nginx, c512", "hit-1k-c512", "nginx", byP99, 1},
	{"CPU per miss vs nginx", "miss-1k-c64", "nginx", byCPUCost, 1},
	{"hits on 2 cores vs nginx (2 workers)", "hit-1k-c64-2cpu", "nginx", byRPS, 1},
	{"hits on 2 cores vs Varnish", "hit-1k-c64-2cpu", "varnish", byRPS, 1},
	{"misses on 2 cores vs nginx (2 workers)", "miss-1k-c64-2cpu", "nginx", byRPS, 1},
	{"misses on 2 cores vs Varnish", "miss-1k-c64-2cpu", "varnish", byRPS, 1},
	{"L2 hit, L1 cold, vs a redis-benchmark GET", "l2-hit-1k-c64", "redis-benchmark", byRPSCost, 1.5},
	{"L1+L2 vs Redis in front of the API", "hit-1k-c64-l2", "redisfront", byRPS, 3},
}

// targetResult is a target evaluated on a report.
type targetResult struct {
	target
	ratio    float64
	measured bool // both results and their figures are in the report
	met      bool
}

// evaluate computes every target from rep.
func evaluate(rep *Report) []targetResult {
	out := make([]targetResult, len(targets))
	for i, t := range targets {
		out[i].target = t
		m, o := rep.find(t.scenario, "moat"), rep.find(t.scenario, t.other)
		if m == nil || o == nil {
			continue
		}
		out[i].ratio, out[i].measured = t.measure.ratio(m, o)
		if !out[i].measured {
			continue
		}
		// Judged at the precision shown, so that "1.20x" is never
		// "behind" a goal of 1.20x.
		got := math.Round(out[i].ratio*100) / 100
		if t.measure.atMost {
			out[i].met = got <= t.goal
		} else {
			out[i].met = got >= t.goal
		}
	}
	return out
}

func (t target) format(v float64) string {
	if t.measure.percent {
		return fmt.Sprintf("%.0f%%", 100*v)
	}
	return fmt.Sprintf("%.2fx", v)
}

// writeTargets prints issue #17's targets as a Markdown table: the ratio
// measured, the goal, and met or behind.
func (rep *Report) writeTargets(w io.Writer) {
	rows := [][]string{{"issue #17 target", "scenario", "measure", "measured", "goal", ""}}
	for _, tr := range evaluate(rep) {
		cmp := "≥ "
		if tr.measure.atMost {
			cmp = "≤ "
		}
		row := []string{tr.name, tr.scenario, fmt.Sprintf(tr.measure.label, tr.other), "-", cmp + tr.format(tr.goal), "not measured"}
		if tr.measured {
			row[3] = tr.format(tr.ratio)
			row[5] = "behind"
			if tr.met {
				row[5] = "met"
			}
		}
		rows = append(rows, row)
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	for i, row := range rows {
		var b strings.Builder
		b.WriteString("|")
		for j, c := range row {
			if j == 3 || j == 4 {
				fmt.Fprintf(&b, " %s%s |", pad(widths[j], c), c)
			} else {
				fmt.Fprintf(&b, " %s%s |", c, pad(widths[j], c))
			}
		}
		fmt.Fprintln(w, b.String())
		if i == 0 {
			b.Reset()
			b.WriteString("|")
			for j, n := range widths {
				sep := strings.Repeat("-", n)
				if j == 3 || j == 4 {
					sep = sep[:n-1] + ":"
				}
				fmt.Fprintf(&b, " %s |", sep)
			}
			fmt.Fprintln(w, b.String())
		}
	}
}
