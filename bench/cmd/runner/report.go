package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Report is bench/results/latest.json.
type Report struct {
	Machine string   `json:"machine"`
	Date    string   `json:"date"`
	Results []Result `json:"results"`
}

// Result is one system in one scenario: the median over its runs. The
// first five fields are the ones every result has; the others are
// present where they mean something.
type Result struct {
	Scenario string  `json:"scenario"`
	System   string  `json:"system"`
	RPS      float64 `json:"rps"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`

	P999MS         *float64 `json:"p999_ms,omitempty"`
	RPSMin         float64  `json:"rps_min"`
	RPSMax         float64  `json:"rps_max"`
	Runs           int      `json:"runs"`
	Errors         int64    `json:"errors"`
	HitRatio       *float64 `json:"hit_ratio,omitempty"`
	OriginRPS      *float64 `json:"origin_rps,omitempty"`
	OriginRequests *int64   `json:"origin_requests,omitempty"`
	Objects        *int64   `json:"objects,omitempty"`
	// CPUUSPerReq is the server's CPU time (all its processes, user and
	// system) per request, in microseconds; CPUUtil is that CPU time over
	// the run's wall time (1.0 = its core was fully used). Both are less
	// sensitive than req/s to other load on the machine.
	CPUUSPerReq *float64 `json:"cpu_us_per_req,omitempty"`
	CPUUtil     *float64 `json:"cpu_util,omitempty"`
	// OthersUtil and OthersLoadUtil are the shares of the server's core
	// and of the load generator's core that other processes took during
	// the run (0 on a quiet machine): how disturbed it was.
	OthersUtil     *float64 `json:"others_util,omitempty"`
	OthersLoadUtil *float64 `json:"others_load_util,omitempty"`
	// In the groups with Redis: RedisCPUUSPerReq is redis-server's CPU
	// time per request, and RedisHitRatio the share of requests the system
	// answered from Redis (moat's L2 hits; absent where not counted).
	RedisCPUUSPerReq *float64 `json:"redis_cpu_us_per_req,omitempty"`
	RedisHitRatio    *float64 `json:"redis_hit_ratio,omitempty"`
}

// run is one measurement of one system.
type run struct {
	rps, p50ms, p99ms, p999ms float64
	errors                    int64
	requests, originRequests  int64
	seconds                   float64
	objects                   int64         // -1: unknown
	redisHits                 int64         // requests answered from Redis; -1: not counted
	cpu                       time.Duration // the server's CPU time during the run
	redisCPU                  time.Duration // redis-server's, in the groups with Redis
	others                    time.Duration // other processes' CPU time on the server's core
	othersLoad                time.Duration // and on the load core (besides wrk and the origin)
}

func (r run) othersLoadUtil() float64 {
	if r.seconds == 0 {
		return 0
	}
	return r.othersLoad.Seconds() / r.seconds
}

// Thresholds above which other load on the machine is taken to have
// disturbed a run: the server lost a tenth of its core, or wrk and the
// origin a sixth of theirs.
const (
	maxOthersServer = 0.10
	maxOthersLoad   = 0.15
)

// disturbed reports whether other processes took enough of either core to
// distort the run.
func (r run) disturbed() bool {
	return r.othersUtil() > maxOthersServer || r.othersLoadUtil() > maxOthersLoad
}

// disturbance ranks runs: the larger share of a core other processes took.
func (r run) disturbance() float64 {
	return max(r.othersUtil()/maxOthersServer, r.othersLoadUtil()/maxOthersLoad)
}

func (r run) othersUtil() float64 {
	if r.seconds == 0 {
		return 0
	}
	return r.others.Seconds() / r.seconds
}

func (r run) cpuPerRequestUS() float64 {
	if r.requests == 0 {
		return 0
	}
	return float64(r.cpu.Microseconds()) / float64(r.requests)
}

func (r run) cpuUtil() float64 {
	if r.seconds == 0 {
		return 0
	}
	return r.cpu.Seconds() / r.seconds
}

// aggregate reduces runs to their medians.
func aggregate(scenario, system string, runs []run, withHitRatio, withOriginCount bool) Result {
	res := Result{Scenario: scenario, System: system, Runs: len(runs)}
	if len(runs) == 0 {
		return res
	}
	pick := func(f func(run) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return median(v)
	}
	res.RPS = round(pick(func(r run) float64 { return r.rps }), 0)
	res.P50MS = round(pick(func(r run) float64 { return r.p50ms }), 3)
	res.P99MS = round(pick(func(r run) float64 { return r.p99ms }), 3)
	if p := pick(func(r run) float64 { return r.p999ms }); p > 0 {
		res.P999MS = ptr(round(p, 3))
	}
	res.RPSMin, res.RPSMax = math.Inf(1), 0
	for _, r := range runs {
		res.RPSMin = min(res.RPSMin, round(r.rps, 0))
		res.RPSMax = max(res.RPSMax, round(r.rps, 0))
		res.Errors += r.errors
	}
	if withHitRatio {
		hr := pick(func(r run) float64 {
			if r.requests == 0 {
				return 0
			}
			return max(0, 1-float64(r.originRequests)/float64(r.requests))
		})
		res.HitRatio = ptr(round(hr, 4))
		res.OriginRPS = ptr(round(pick(func(r run) float64 {
			if r.seconds == 0 {
				return 0
			}
			return float64(r.originRequests) / r.seconds
		}), 0))
	}
	if withOriginCount {
		res.OriginRequests = ptr(int64(pick(func(r run) float64 { return float64(r.originRequests) })))
	}
	if runs[0].cpu > 0 {
		res.CPUUSPerReq = ptr(round(pick(run.cpuPerRequestUS), 1))
		res.CPUUtil = ptr(round(pick(run.cpuUtil), 3))
		res.OthersUtil = ptr(round(pick(run.othersUtil), 3))
		res.OthersLoadUtil = ptr(round(pick(run.othersLoadUtil), 3))
	}
	if runs[0].redisCPU > 0 {
		res.RedisCPUUSPerReq = ptr(round(pick(func(r run) float64 {
			if r.requests == 0 {
				return 0
			}
			return float64(r.redisCPU.Microseconds()) / float64(r.requests)
		}), 1))
	}
	if runs[0].redisHits >= 0 {
		res.RedisHitRatio = ptr(round(pick(func(r run) float64 {
			if r.requests == 0 {
				return 0
			}
			return min(1, float64(r.redisHits)/float64(r.requests))
		}), 4))
	}
	var objects []float64
	for _, r := range runs {
		if r.objects >= 0 {
			objects = append(objects, float64(r.objects))
		}
	}
	if len(objects) > 0 {
		res.Objects = ptr(int64(median(objects)))
	}
	return res
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round(x float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(x*p) / p
}

func ptr[T any](v T) *T { return &v }

// find returns the result of system in scenario.
func (rep *Report) find(scenario, system string) *Result {
	for i := range rep.Results {
		if rep.Results[i].Scenario == scenario && rep.Results[i].System == system {
			return &rep.Results[i]
		}
	}
	return nil
}

// wrkSaturation is about where one wrk thread on one core of this kind of
// machine stops keeping up; figures near it measure wrk, not the server.
const wrkSaturation = 70000

// column is one column of the results table. An optional column is left
// out when no row has a value in it, so that reports without the Redis
// groups keep their table.
type column struct {
	header   string
	cell     func(rep *Report, r Result) string
	optional bool
}

// ratioColumn is moat's ratio to other, on moat's rows.
func ratioColumn(other string, optional bool) column {
	return column{header: "moat/" + other, optional: optional, cell: func(rep *Report, r Result) string {
		if r.System != "moat" {
			return ""
		}
		return rep.ratio(r.Scenario, other)
	}}
}

var columns = []column{
	{header: "scenario", cell: func(_ *Report, r Result) string { return r.Scenario }},
	{header: "system", cell: func(_ *Report, r Result) string { return r.System }},
	{header: "req/s", cell: func(_ *Report, r Result) string {
		if r.RPS >= wrkSaturation && r.System != "redis-benchmark" {
			return fmt.Sprintf("%.0f*", r.RPS)
		}
		return fmt.Sprintf("%.0f", r.RPS)
	}},
	{header: "min-max", cell: func(_ *Report, r Result) string { return fmt.Sprintf("%.0f-%.0f", r.RPSMin, r.RPSMax) }},
	{header: "p50 ms", cell: func(_ *Report, r Result) string { return fmt.Sprintf("%.2f", r.P50MS) }},
	{header: "p99 ms", cell: func(_ *Report, r Result) string { return fmt.Sprintf("%.2f", r.P99MS) }},
	{header: "p99.9 ms", cell: func(_ *Report, r Result) string { return optF(r.P999MS, "%.2f") }},
	{header: "cpu µs/req", cell: func(_ *Report, r Result) string { return optF(r.CPUUSPerReq, "%.1f") }},
	{header: "redis µs/req", optional: true, cell: func(_ *Report, r Result) string { return optF(r.RedisCPUUSPerReq, "%.1f") }},
	{header: "cpu", cell: func(_ *Report, r Result) string { return optPct(r.CPUUtil) }},
	{header: "others", cell: func(_ *Report, r Result) string { return others(r.OthersUtil, r.OthersLoadUtil) }},
	{header: "hit ratio", cell: func(_ *Report, r Result) string { return optF(r.HitRatio, "%.3f") }},
	{header: "redis hits", optional: true, cell: func(_ *Report, r Result) string { return optF(r.RedisHitRatio, "%.3f") }},
	{header: "origin req/s", cell: func(_ *Report, r Result) string { return optF(r.OriginRPS, "%.0f") }},
	{header: "origin reqs", cell: func(_ *Report, r Result) string { return optI(r.OriginRequests) }},
	{header: "objects", cell: func(_ *Report, r Result) string { return optI(r.Objects) }},
	{header: "errors", cell: func(_ *Report, r Result) string { return fmt.Sprint(r.Errors) }},
	ratioColumn("nginx", false),
	ratioColumn("varnish", false),
	ratioColumn("ceiling", false),
	ratioColumn("redisfront", true),
	ratioColumn("redis-benchmark", true),
}

// writeTable prints the results as a Markdown table, with moat's ratio to
// nginx, Varnish, the ceiling, redisfront and redis-benchmark on moat's row.
func (rep *Report) writeTable(w io.Writer) {
	var cols []column
	var rows [][]string
	for _, c := range columns {
		cells := make([]string, len(rep.Results))
		used := false
		for i, r := range rep.Results {
			cells[i] = c.cell(rep, r)
			used = used || (cells[i] != "" && cells[i] != "-")
		}
		if c.optional && !used {
			continue
		}
		cols = append(cols, c)
		for i := range cells {
			if len(rows) <= i {
				rows = append(rows, nil)
			}
			rows[i] = append(rows[i], cells[i])
		}
	}
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = c.header
	}
	rows = append([][]string{header}, rows...)
	widths := make([]int, len(cols))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cells {
			if i < 2 {
				fmt.Fprintf(&b, " %s%s |", c, pad(widths[i], c))
			} else {
				fmt.Fprintf(&b, " %s%s |", pad(widths[i], c), c)
			}
		}
		fmt.Fprintln(w, b.String())
	}
	line(rows[0])
	sep := make([]string, len(widths))
	for i, n := range widths {
		sep[i] = strings.Repeat("-", n)
		if i >= 2 {
			sep[i] = sep[i][:n-1] + ":"
		}
	}
	line(sep)
	for _, row := range rows[1:] {
		line(row)
	}
	fmt.Fprintf(w, "\nmedians of %s; * = at or near wrk's own limit (~75k req/s on one core)\n", runsLabel(rep))
}

func pad(width int, s string) string {
	return strings.Repeat(" ", max(0, width-utf8.RuneCountInString(s)))
}

func runsLabel(rep *Report) string {
	n := 0
	for _, r := range rep.Results {
		n = max(n, r.Runs)
	}
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("%d runs", n)
}

// ratio is moat's req/s over other's in scenario; for the stampede, where
// the point is origin requests, it is the other's origin count over moat's.
func (rep *Report) ratio(scenario, other string) string {
	m, o := rep.find(scenario, "moat"), rep.find(scenario, other)
	if m == nil || o == nil {
		return ""
	}
	if m.OriginRequests != nil {
		return ""
	}
	if o.RPS == 0 {
		return ""
	}
	if other == "ceiling" {
		return fmt.Sprintf("%.0f%%", 100*m.RPS/o.RPS)
	}
	return fmt.Sprintf("%.2fx", m.RPS/o.RPS)
}

func optF(v *float64, format string) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf(format, *v)
}

func optPct(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100**v)
}

// others shows the other load on the server's and the load core.
func others(server, load *float64) string {
	if server == nil || load == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f/%.0f%%", 100**server, 100**load)
}

func optI(v *int64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(*v)
}

// writeJSON writes the report to path atomically.
func (rep *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// printTable prints the table of the report in the JSON file path.
func printTable(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	rep.writeTable(os.Stdout)
	fmt.Println()
	rep.writeTargets(os.Stdout)
	return nil
}
