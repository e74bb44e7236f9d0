package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// wrkResult is the JSON line bench/wrk/bench.lua prints from done().
type wrkResult struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Bytes      int64 `json:"bytes"`
	Errors     struct {
		Connect int64 `json:"connect"`
		Read    int64 `json:"read"`
		Write   int64 `json:"write"`
		Status  int64 `json:"status"`
		Timeout int64 `json:"timeout"`
	} `json:"errors"`
	P50US  float64 `json:"p50_us"`
	P90US  float64 `json:"p90_us"`
	P99US  float64 `json:"p99_us"`
	P999US float64 `json:"p999_us"`
	MaxUS  float64 `json:"max_us"`
	MeanUS float64 `json:"mean_us"`

	cpu time.Duration // wrk's own CPU time (user + system)
}

// RPS is requests per second over the run.
func (w *wrkResult) RPS() float64 {
	if w.DurationUS <= 0 {
		return 0
	}
	return float64(w.Requests) / (float64(w.DurationUS) / 1e6)
}

// ErrorCount is every failed request: socket errors and non-2xx/3xx.
func (w *wrkResult) ErrorCount() int64 {
	e := w.Errors
	return e.Connect + e.Read + e.Write + e.Status + e.Timeout
}

// parseWrk finds the WRKJSON line in wrk's output.
func parseWrk(out []byte) (*wrkResult, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "WRKJSON ")
		if !ok {
			continue
		}
		var r wrkResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("wrk output: %w", err)
		}
		return &r, nil
	}
	return nil, fmt.Errorf("wrk output has no WRKJSON line:\n%s", out)
}

// runWrk runs one wrk thread pinned to the load core. With one thread per
// core wrk is at its most efficient; on this kind of machine one wrk thread
// saturates near 75k requests/s.
func (r *runner) runWrk(base string, conns int, d time.Duration, args ...string) (*wrkResult, error) {
	return r.runWrkWith(wrkLoad{cpus: strconv.Itoa(r.loadCPU), threads: 1}, base, conns, d, args...)
}

// wrkLoad is where wrk runs and with how many threads.
type wrkLoad struct {
	cpus    string // taskset -c list; "" runs wrk unpinned
	threads int
}

func (r *runner) runWrkWith(load wrkLoad, base string, conns int, d time.Duration, args ...string) (*wrkResult, error) {
	argv := []string{r.tools["wrk"],
		"-t" + strconv.Itoa(load.threads), "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(int(d.Seconds())) + "s",
		"--timeout", "10s", "-s", r.wrkScript, base, "--"}
	cmd := pinned(load.cpus, append(argv, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	w, err := parseWrk(out)
	if err != nil {
		return nil, err
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		w.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return w, nil
}
