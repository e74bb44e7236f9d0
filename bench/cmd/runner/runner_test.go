package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestReportJSONShape(t *testing.T) {
	rep := &Report{Machine: "test box", Date: "2026-01-02T03:04:05Z"}
	rep.Results = append(rep.Results,
		aggregate("hit-1k-c64", "moat", []run{
			{rps: 100, p50ms: 1, p99ms: 3, requests: 1000, seconds: 10, cpu: 5 * time.Second, objects: -1},
			{rps: 300, p50ms: 2, p99ms: 5, requests: 3000, seconds: 10, cpu: 5 * time.Second, objects: -1},
			{rps: 200, p50ms: 3, p99ms: 4, requests: 2000, seconds: 10, cpu: 5 * time.Second, objects: -1},
		}, true, false),
		aggregate("stampede", "nginx", []run{{rps: 10, originRequests: 1, requests: 1000, objects: -1}}, false, true),
	)
	path := filepath.Join(t.TempDir(), "results", "latest.json")
	if err := rep.writeJSON(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 2 || back.Results[0].RPS != 200 {
		t.Errorf("report does not read back: %v, %+v", err, back.Results)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"machine", "date", "results"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("top-level key %q missing", k)
		}
	}
	results := doc["results"].([]any)
	if len(results) != 2 {
		t.Fatalf("%d results, want 2", len(results))
	}
	for _, r := range results {
		m := r.(map[string]any)
		for _, k := range []string{"scenario", "system", "rps", "p50_ms", "p99_ms"} {
			if _, ok := m[k]; !ok {
				t.Errorf("result %v: key %q missing", m["scenario"], k)
			}
		}
	}
	hit := results[0].(map[string]any)
	if hit["rps"] != 200.0 || hit["p50_ms"] != 2.0 || hit["p99_ms"] != 4.0 {
		t.Errorf("medians = %v, %v, %v; want 200, 2, 4", hit["rps"], hit["p50_ms"], hit["p99_ms"])
	}
	if hit["hit_ratio"] != 1.0 {
		t.Errorf("hit_ratio = %v, want 1", hit["hit_ratio"])
	}
	if hit["cpu_us_per_req"] != 2500.0 { // 5 s over 2,000 requests (median)
		t.Errorf("cpu_us_per_req = %v, want 2500", hit["cpu_us_per_req"])
	}
	if _, ok := hit["origin_requests"]; ok {
		t.Error("origin_requests present on a wrk scenario")
	}
	st := results[1].(map[string]any)
	if st["origin_requests"] != 1.0 {
		t.Errorf("stampede origin_requests = %v, want 1", st["origin_requests"])
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{3, 1, 2}, 2}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestRotateVisitsEveryPosition(t *testing.T) {
	list := []string{"moat", "nginx", "varnish", "ceiling"}
	first := map[string]bool{}
	for rep := range len(list) {
		r := rotate(list, rep)
		if !slices.Equal(slices.Sorted(slices.Values(r)), slices.Sorted(slices.Values(list))) {
			t.Fatalf("rotate(%d) = %v: not a permutation", rep, r)
		}
		first[r[0]] = true
	}
	if len(first) != len(list) {
		t.Errorf("systems that ran first: %v, want all of them", first)
	}
}

func TestParseWrk(t *testing.T) {
	out := []byte("Running 3s test @ http://127.0.0.1:1\n  1 threads and 64 connections\n" +
		`WRKJSON {"requests":3000,"duration_us":3000000,"bytes":1,"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":0},"p50_us":1500,"p90_us":2000,"p99_us":4000,"p999_us":9000,"max_us":10000,"mean_us":1600.5}` + "\n")
	w, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.RPS(); got != 1000 {
		t.Errorf("RPS = %v, want 1000", got)
	}
	if got := w.ErrorCount(); got != 3 {
		t.Errorf("ErrorCount = %d, want 3", got)
	}
	if w.P999US != 9000 {
		t.Errorf("P999US = %v, want 9000", w.P999US)
	}
	if _, err := parseWrk([]byte("no json here")); err == nil {
		t.Error("parseWrk without a WRKJSON line: no error")
	}
}

func TestParseStat(t *testing.T) {
	// comm may hold spaces and parentheses.
	line := []byte("4242 (nginx: worker (x)) S 4240 4240 4240 0 -1 4194624 100 0 0 0 250 75 0 0 20 0 1 0 1 2 3")
	pgrp, ticks, ok := parseStat(line)
	if !ok || pgrp != 4240 || ticks != 325 {
		t.Errorf("parseStat = %d, %d, %v; want 4240, 325, true", pgrp, ticks, ok)
	}
	if _, _, ok := parseStat([]byte("garbage")); ok {
		t.Error("parseStat(garbage) ok")
	}
}

func TestTableShowsRatios(t *testing.T) {
	rep := &Report{Results: []Result{
		{Scenario: "hit-1k-c64", System: "moat", RPS: 45000, Runs: 3},
		{Scenario: "hit-1k-c64", System: "nginx", RPS: 30000, Runs: 3},
		{Scenario: "hit-1k-c64", System: "varnish", RPS: 36000, Runs: 3},
		{Scenario: "hit-1k-c64", System: "ceiling", RPS: 50000, Runs: 3},
	}}
	var b bytes.Buffer
	rep.writeTable(&b)
	out := b.String()
	for _, want := range []string{"1.50x", "1.25x", "90%", "medians of 3 runs"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestFilterScenarios(t *testing.T) {
	scs := []scenario{{name: "a", systems: []string{"moat", "nginx"}}, {name: "b", systems: []string{"ceiling"}}}
	got := filterScenarios(scs, nil, []string{"moat"})
	if len(got) != 1 || got[0].name != "a" || !slices.Equal(got[0].systems, []string{"moat"}) {
		t.Errorf("filter by system = %+v", got)
	}
	if got := filterScenarios(scs, []string{"b"}, nil); len(got) != 1 || got[0].name != "b" {
		t.Errorf("filter by name = %+v", got)
	}
}

func TestConfigsRender(t *testing.T) {
	nginx := string(render(nginxConfig, map[string]any{"Dir": "/d", "Cache": "/c", "MaxSize": "40m", "OriginHost": "127.0.0.1:9", "Port": 8, "Workers": 1}))
	for _, want := range []string{"worker_processes 1;", "access_log off;", "proxy_cache_lock on;",
		"proxy_cache_use_stale updating", "keepalive 128;", `proxy_set_header Connection "";`, "max_size=40m"} {
		if !strings.Contains(nginx, want) {
			t.Errorf("nginx.conf lacks %q", want)
		}
	}
	moat := string(render(moatConfig, map[string]any{"Port": 1, "AdminPort": 2, "Origin": "http://127.0.0.1:9", "Memory": "256MiB", "SWR": "10s", "Compression": false, "Redis": ""}))
	for _, want := range []string{"listen: 127.0.0.1:1", "memory: 256MiB", "level: warn", "stale_while_revalidate: 10s", "compression: false"} {
		if !strings.Contains(moat, want) {
			t.Errorf("moat.yaml lacks %q", want)
		}
	}
	if strings.Contains(moat, "redis") {
		t.Errorf("moat.yaml without Redis has a redis section:\n%s", moat)
	}
	moat = string(render(moatConfig, map[string]any{"Port": 1, "AdminPort": 2, "Origin": "http://127.0.0.1:9", "Memory": "1MiB", "SWR": "10s", "Compression": false, "Redis": "127.0.0.1:7"}))
	if want := `redis: {addrs: ["127.0.0.1:7"]`; !strings.Contains(moat, want) {
		t.Errorf("moat.yaml lacks %q:\n%s", want, moat)
	}
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(moat), &doc); err != nil {
		t.Errorf("moat.yaml with Redis is not YAML: %v\n%s", err, moat)
	}
	nginx2 := string(render(nginxConfig, map[string]any{"Dir": "/d", "Cache": "/c", "MaxSize": "40m", "OriginHost": "127.0.0.1:9", "Port": 8, "Workers": 2}))
	if !strings.Contains(nginx2, "worker_processes 2;") {
		t.Error("nginx.conf for 2 cores lacks worker_processes 2")
	}
}

func TestEnvWorkers(t *testing.T) {
	for _, tt := range []struct {
		cpus string
		want int
	}{{"0", 1}, {"0,1", 2}, {"", runtime.NumCPU()}} {
		if got := (&env{cpus: tt.cpus}).workers(); got != tt.want {
			t.Errorf("workers(%q) = %d, want %d", tt.cpus, got, tt.want)
		}
	}
}

func TestParseCoreBusy(t *testing.T) {
	stat := []byte("cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 5 1 4 50 9 9 9 0 0 0\ncpu1 5 0 6 50 0 0 0 0 0 0\n")
	if got := parseCoreBusy(stat, 0); got != 10 {
		t.Errorf("cpu0 busy = %d, want 10", got)
	}
	if got := parseCoreBusy(stat, 1); got != 11 {
		t.Errorf("cpu1 busy = %d, want 11", got)
	}
	if got := parseCoreBusy(stat, allCores); got != 20 {
		t.Errorf("all cores busy = %d, want 20", got)
	}
}

func TestParseRedisBenchmark(t *testing.T) {
	out := []byte(`"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"SET","50000.00","0.600","0.100","0.550","0.800","1.000","3.000"
"GET","61050.06","0.553","0.144","0.535","0.703","0.871","2.639"
`)
	got, err := parseRedisBenchmark(out, "get")
	if err != nil {
		t.Fatal(err)
	}
	if want := (redisBenchResult{rps: 61050.06, p50ms: 0.535, p99ms: 0.871}); got != want {
		t.Errorf("parseRedisBenchmark = %+v, want %+v", got, want)
	}
	for name, bad := range map[string]string{
		"no_line":   `"test","rps","p50_latency_ms","p99_latency_ms"` + "\n" + `"SET","1","1","1"` + "\n",
		"no_header": `"GET","61050.06","0.553"` + "\n",
		"zero_rps":  `"test","rps","p50_latency_ms","p99_latency_ms"` + "\n" + `"GET","0","1","1"` + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := parseRedisBenchmark([]byte(bad), "get"); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestTableShowsRedisColumnsOnlyWithRedis(t *testing.T) {
	plain := &Report{Results: []Result{{Scenario: "hit-1k-c64", System: "moat", RPS: 1, Runs: 1}}}
	var b bytes.Buffer
	plain.writeTable(&b)
	for _, absent := range []string{"redis µs/req", "redis hits", "moat/redisfront", "moat/redis-benchmark"} {
		if strings.Contains(b.String(), absent) {
			t.Errorf("table without Redis results has column %q", absent)
		}
	}
	withRedis := &Report{Results: []Result{
		{Scenario: "l2-hit-1k-c64", System: "moat", RPS: 10000, Runs: 1, RedisCPUUSPerReq: ptr(12.5), RedisHitRatio: ptr(0.95)},
		{Scenario: "l2-hit-1k-c64", System: "redisfront", RPS: 20000, Runs: 1},
		{Scenario: "l2-hit-1k-c64", System: "redis-benchmark", RPS: 40000, Runs: 1},
	}}
	b.Reset()
	withRedis.writeTable(&b)
	for _, want := range []string{"redis µs/req", "12.5", "redis hits", "0.950", "moat/redisfront", "0.50x", "moat/redis-benchmark", "0.25x"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}

// targetsFixture is a report with every scenario the targets read.
func targetsFixture() *Report {
	cpu := func(v float64) *float64 { return &v }
	return &Report{Results: []Result{
		{Scenario: "hit-1k-c64", System: "moat", RPS: 42000, P99MS: 2.5, CPUUSPerReq: cpu(22)},
		{Scenario: "hit-1k-c64", System: "nginx", RPS: 35000, P99MS: 2.7, CPUUSPerReq: cpu(28.9)},
		{Scenario: "hit-1k-c64", System: "varnish", RPS: 40000, P99MS: 49.5, CPUUSPerReq: cpu(24.9)},
		{Scenario: "hit-1k-c64", System: "ceiling", RPS: 46000, P99MS: 3.8, CPUUSPerReq: cpu(21)},
		{Scenario: "hit-16k-c64", System: "moat", RPS: 30000},
		{Scenario: "hit-16k-c64", System: "nginx", RPS: 25000},
		{Scenario: "hit-16k-c64", System: "varnish", RPS: 35000},
		{Scenario: "hit-1k-c512", System: "moat", RPS: 30000, P99MS: 41.7},
		{Scenario: "hit-1k-c512", System: "nginx", RPS: 24000, P99MS: 101},
		{Scenario: "miss-1k-c64", System: "moat", RPS: 9000, CPUUSPerReq: cpu(102.7)},
		{Scenario: "miss-1k-c64", System: "nginx", RPS: 11757, CPUUSPerReq: cpu(79.2)},
		{Scenario: "hit-1k-c64-2cpu", System: "moat", RPS: 38000},
		{Scenario: "hit-1k-c64-2cpu", System: "nginx", RPS: 38000},
		{Scenario: "hit-1k-c64-2cpu", System: "varnish", RPS: 32000},
		{Scenario: "miss-1k-c64-2cpu", System: "moat", RPS: 7000},
		{Scenario: "miss-1k-c64-2cpu", System: "nginx", RPS: 10000},
		// no Varnish row for miss-1k-c64-2cpu: not measured
		{Scenario: "l2-hit-1k-c64", System: "moat", RPS: 30000},
		{Scenario: "l2-hit-1k-c64", System: "redis-benchmark", RPS: 45000},
		{Scenario: "hit-1k-c64-l2", System: "moat", RPS: 30000},
		{Scenario: "hit-1k-c64-l2", System: "redisfront", RPS: 25000},
	}}
}

func TestEvaluateTargets(t *testing.T) {
	got := map[string]targetResult{}
	for _, tr := range evaluate(targetsFixture()) {
		got[tr.name] = tr
	}
	if len(got) != len(targets) {
		t.Fatalf("%d targets evaluated, want %d", len(got), len(targets))
	}
	for _, tt := range []struct {
		name     string
		ratio    float64
		measured bool
		met      bool
	}{
		{"hits 1 KiB vs nginx", 1.2, true, true},                     // 42,000 / 35,000, exactly the goal
		{"hits 1 KiB vs Varnish", 1.05, true, false},                 // 42,000 / 40,000
		{"hits 16 KiB vs nginx", 1.2, true, true},                    // 30,000 / 25,000
		{"hits 16 KiB vs Varnish", 30.0 / 35, true, false},           //
		{"hits 1 KiB vs the ceiling, by CPU", 21.0 / 22, true, true}, // 95.5%
		{"hit p99 vs nginx, c64", 2.5 / 2.7, true, true},
		{"hit p99 vs nginx, c512", 41.7 / 101, true, true},
		{"CPU per miss vs nginx", 102.7 / 79.2, true, false},
		{"hits on 2 cores vs nginx (2 workers)", 1, true, true},
		{"hits on 2 cores vs Varnish", 38.0 / 32, true, true},
		{"misses on 2 cores vs nginx (2 workers)", 0.7, true, false},
		{"misses on 2 cores vs Varnish", 0, false, false},
		{"L2 hit, L1 cold, vs a redis-benchmark GET", 1.5, true, true}, // a cost: 45,000 / 30,000
		{"L1+L2 vs Redis in front of the API", 1.2, true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, ok := got[tt.name]
			if !ok {
				t.Fatal("no such target")
			}
			if tr.measured != tt.measured || tr.met != tt.met || math.Abs(tr.ratio-tt.ratio) > 1e-9 {
				t.Errorf("ratio %v, measured %v, met %v; want %v, %v, %v", tr.ratio, tr.measured, tr.met, tt.ratio, tt.measured, tt.met)
			}
		})
	}
}

func TestEvaluateTargetsOnAnEmptyReport(t *testing.T) {
	for _, tr := range evaluate(&Report{}) {
		if tr.measured || tr.met {
			t.Errorf("%s: measured %v, met %v on an empty report", tr.name, tr.measured, tr.met)
		}
	}
}

func TestWriteTargets(t *testing.T) {
	var b bytes.Buffer
	targetsFixture().writeTargets(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != len(targets)+2 { // header and separator
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(targets)+2, b.String())
	}
	for _, want := range []string{
		"| hits 1 KiB vs nginx ", "1.20x | ≥ 1.20x | met",
		"95% |   ≥ 95% | met",      // the ceiling, by CPU
		"1.30x | ≤ 1.00x | behind", // CPU per miss
		"| misses on 2 cores vs Varnish ", "- | ≥ 1.00x | not measured",
		"req/s, redis-benchmark/moat", "1.50x | ≤ 1.50x | met",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("targets lack %q:\n%s", want, b.String())
		}
	}
}
