// Command runner benchmarks moat against nginx proxy_cache, Varnish and a
// bare net/http ceiling on one machine, and writes bench/results/latest.json.
//
// It is driven by bench/run.sh (make bench, make bench-quick), which
// installs the tools and builds the binaries. The runner starts one origin,
// then for each group of scenarios starts every system fresh on free ports
// of 127.0.0.1, the systems pinned to one core and the load generator (wrk,
// one thread) and origin to the other; it warms the caches, runs each
// scenario against each system in turn, rotating the order on every
// repetition so that the machine's drift falls on all systems alike, and
// reports the median of the repetitions. Every process it starts runs in
// its own process group and is stopped by PID, on success, error or signal.
//
// Two kinds of groups differ (issue #17). The -2cpu groups run everything
// unpinned: the systems with a worker per core, an origin of their own, and
// wrk with two threads, all sharing both cores. The L2 groups start a
// redis-server on the load core and compare moat with cache.redis against
// bench/cmd/redisfront (Redis in front of the API) and redis-benchmark.
// After the table the runner prints the targets, met or behind
// (targets.go).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moatproxy/moat/bench/internal/payload"
)

const (
	hotIDs    = 1000    // the hot set of the hit scenarios
	l2IDs     = 10_000  // the hot set of l2-hit-1k-c64: ~20 times what moat's 1 MiB L1 holds
	zipfIDs   = 100_000 // the id space of mixed-zipf
	zipfS     = "0.9"   // its Zipf exponent
	stampedeN = 1000    // concurrent requests of the stampede
)

// systemOrder is the order of systems in the report.
var systemOrder = []string{"moat", "nginx", "varnish", "ceiling", "redisfront", "redis-benchmark"}

// scenario is one measurement: a wrk workload (args to bench/wrk/bench.lua)
// or, when args is nil, the stampede.
type scenario struct {
	name    string
	conns   int
	args    []string
	systems []string
	objects bool // report how many responses each system holds
}

// group is a set of scenarios that share one start of the systems.
type group struct {
	name   string
	budget budget
	// unpinned runs the systems (a worker per core), an origin of the
	// group's own and wrk (two threads) on every core, instead of the
	// systems on the server core and the load on the other.
	unpinned bool
	// redis starts a redis-server for the group on the load core.
	redis bool
	// full leaves the group out of -quick (make bench-quick, which must
	// stay under two minutes) unless -scenarios names its scenarios.
	full      bool
	scenarios []scenario
	warm      func(r *runner, e *env, base string) error
}

var caches = []string{"moat", "nginx", "varnish"}
var cachesAndCeiling = []string{"moat", "nginx", "varnish", "ceiling"}

// large is the budget of the groups where the cache must not evict: the
// default 256 MiB of moat, the same for the others.
var large = budget{moat: "256MiB", nginx: "256m", varnish: "256m", moatSWR: "10s"}

// zipfBudget holds about 10,000 of the 100,000 mixed-zipf documents in
// each system (10%), by each system's own accounting of a ~1 KiB response,
// measured on this benchmark's responses: moat ~2,280 bytes per entry
// (Entry.Size), nginx one 4 KiB tmpfs block per cache file, Varnish ~1,360
// bytes of malloc storage per object. nginx enforces max_size only when its
// cache manager wakes (at least every 10 s), so it holds more between
// wake-ups; the report shows the mean number of objects each system held.
var zipfBudget = budget{moat: "22800000", nginx: "40000k", varnish: "13600000", moatSWR: "10s"}

// l1Cold is moat's smallest L1 (cache.memory's minimum, 1 MiB: ~450 of the
// 1 KiB responses, at ~2,300 bytes of Entry.Size each) over a hot set of
// l2IDs, so that about 95% of requests miss L1 and are answered from L2.
// moat has no setting that turns L1 off. The memory limit moat derives
// from a 1 MiB budget (1.4 MiB + 16 MiB) is below what a node with a Redis
// client takes (about 22 MB): its collector would run all the time (over
// 100 cycles/s, ~40% of the CPU), which would measure the limit, not L2.
// GOMEMLIMIT gives it the room a real deployment's budget would.
var l1Cold = budget{moat: "1MiB", moatSWR: "10s", moatMemLimit: "64MiB"}

var withRedis = []string{"moat", "redisfront"}

func groups() []group {
	return []group{
		{
			name:   "hit",
			budget: large,
			scenarios: []scenario{
				{name: "hit-1k-c64", conns: 64, args: []string{"hot", "1k", strconv.Itoa(hotIDs)}, systems: cachesAndCeiling},
				{name: "hit-16k-c64", conns: 64, args: []string{"hot", "16k", strconv.Itoa(hotIDs)}, systems: cachesAndCeiling},
				{name: "hit-1k-c512", conns: 512, args: []string{"hot", "1k", strconv.Itoa(hotIDs)}, systems: cachesAndCeiling},
			},
			warm: warmHot,
		},
		{
			// moat as it ships, with cache.compression on: hits from
			// the compressed copy, for a client that does not accept
			// gzip (decoded on every hit) and for one that does.
			name:   "compression",
			budget: budget{moat: "256MiB", moatSWR: "10s", moatCompression: true},
			scenarios: []scenario{
				{name: "hit-1k-c64-decode", conns: 64, args: []string{"hot", "1k", strconv.Itoa(hotIDs)}, systems: []string{"moat"}},
				{name: "hit-1k-c64-gzip", conns: 64, args: []string{"hot", "1k", strconv.Itoa(hotIDs), "gzip"}, systems: []string{"moat"}},
			},
			warm: warmHot,
		},
		{
			name:   "miss",
			budget: large,
			scenarios: []scenario{
				{name: "miss-1k-c64", conns: 64, args: []string{"unique", "miss", "run"}, systems: caches},
			},
			warm: warmMiss,
		},
		{
			name:   "zipf",
			budget: zipfBudget,
			scenarios: []scenario{
				{name: "mixed-zipf-c64", conns: 64, args: []string{"zipf", "zipf", strconv.Itoa(zipfIDs), zipfS}, systems: caches, objects: true},
			},
			warm: func(r *runner, _ *env, base string) error {
				_, err := r.runWrk(base, 64, r.zipfWarm, "zipf", "zipf", strconv.Itoa(zipfIDs), zipfS)
				return err
			},
		},
		{
			name:      "stampede",
			budget:    large,
			scenarios: []scenario{{name: "stampede", systems: caches}},
		},
		{
			// The same stampede on moat without stale-while-revalidate:
			// the 1,000 requests must wait for one coalesced
			// revalidation instead of being answered stale.
			name:      "stampede-coalesce",
			budget:    budget{moat: "256MiB", moatSWR: "0s"},
			scenarios: []scenario{{name: "stampede-coalesce", systems: []string{"moat"}}},
		},
		{
			// Both cores, nothing pinned: moat with GOMAXPROCS 2, nginx
			// with 2 workers, Varnish with 2 thread pools, the ceiling,
			// and wrk with 2 threads, all competing for the same 2 cores.
			name:     "hit-2cpu",
			budget:   large,
			unpinned: true,
			full:     true,
			scenarios: []scenario{
				{name: "hit-1k-c64-2cpu", conns: 64, args: []string{"hot", "1k", strconv.Itoa(hotIDs)}, systems: cachesAndCeiling},
			},
			warm: warmHot,
		},
		{
			name:     "miss-2cpu",
			budget:   large,
			unpinned: true,
			full:     true,
			scenarios: []scenario{
				{name: "miss-1k-c64-2cpu", conns: 64, args: []string{"unique", "miss", "run"}, systems: caches},
			},
			warm: warmMiss,
		},
		{
			// L2 hits with L1 cold: moat with a 1 MiB L1 over 10,000
			// URLs, all in Redis; redisfront over the same URLs; and
			// redis-benchmark GETs of 1 KiB values from the same Redis.
			name:   "l2",
			budget: l1Cold,
			redis:  true,
			full:   true,
			scenarios: []scenario{
				{name: "l2-hit-1k-c64", conns: 64, args: []string{"hot", "1k", strconv.Itoa(l2IDs)}, systems: []string{"moat", "redisfront", "redis-benchmark"}},
			},
			warm: func(r *runner, e *env, base string) error { return warmRedis(r, e, base, l2IDs) },
		},
		{
			// moat with L1 and L2 against redisfront, which asks Redis on
			// every request.
			name:   "l1l2",
			budget: large,
			redis:  true,
			full:   true,
			scenarios: []scenario{
				{name: "hit-1k-c64-l2", conns: 64, args: []string{"hot", "1k", strconv.Itoa(hotIDs)}, systems: withRedis},
			},
			warm: func(r *runner, e *env, base string) error { return warmRedis(r, e, base, hotIDs) },
		},
	}
}

// warmMiss opens the origin connection pools before misses are measured.
func warmMiss(r *runner, _ *env, base string) error {
	_, err := r.runWrk(base, 64, time.Second, "unique", "miss", "warm")
	return err
}

type runner struct {
	procs     procs
	serverCPU int
	loadCPU   int
	binDir    string
	wrkScript string
	tools     map[string]string
	workDir   string
	cacheDir  string

	pprofAddr string        // set in -profile mode: where moat or the ceiling serve pprof
	origin    *originServer // on the load core, shared by the pinned groups
	retries   int           // runs repeated when disturbed (see run.disturbed)

	quick    bool
	reps     int
	duration time.Duration
	zipfWarm time.Duration
	tag      string
	log      io.Writer
}

func main() {
	quick := flag.Bool("quick", false, "one 2 s run per system and scenario, no repeats (make bench-quick)")
	reps := flag.Int("reps", 0, "runs per system and scenario (default 3, 1 with -quick)")
	duration := flag.Duration("duration", 0, "length of each run (default 6s, 2s with -quick)")
	binDir := flag.String("bin", "", "directory holding the built moat, origin, ceiling and stampede")
	script := flag.String("script", "bench/wrk/bench.lua", "the wrk script")
	out := flag.String("out", "bench/results/latest.json", "where to write the JSON report")
	only := flag.String("scenarios", "", "comma-separated scenarios to run (default all)")
	systems := flag.String("systems", "", "comma-separated systems to run (default all)")
	serverCPU := flag.Int("server-cpu", 0, "the core the systems under test are pinned to")
	loadCPU := flag.Int("load-cpu", 1, "the core wrk and the origin are pinned to")
	keep := flag.Bool("keep", false, "keep the work directory (configs and logs)")
	retries := flag.Int("retries", -1, "repeat a run disturbed by other load up to this many times, keeping the least disturbed (default 3, 0 with -quick)")
	table := flag.String("table", "", "print the table of this JSON report (a bench/results file) and exit")
	profile := flag.String("profile", "", "instead of benchmarking, profile this system (moat or ceiling) in the first of -scenarios; writes CPU and allocation profiles next to -out")
	flag.Parse()

	if *table != "" {
		if err := printTable(*table); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}

	r := &runner{serverCPU: *serverCPU, loadCPU: *loadCPU, binDir: *binDir, log: os.Stderr,
		reps: 3, duration: 6 * time.Second, zipfWarm: 5 * time.Second, retries: 3,
		tag: strconv.FormatInt(time.Now().Unix(), 36)}
	if *quick {
		// Under two minutes with the build: one short run each, and no
		// repeats of disturbed runs.
		r.reps, r.duration, r.zipfWarm, r.retries = 1, 2*time.Second, 2*time.Second, 0
		r.quick = true
	}
	if *retries >= 0 {
		r.retries = *retries
	}
	if *reps > 0 {
		r.reps = *reps
	}
	if *duration > 0 {
		r.duration = *duration
	}
	if abs, err := filepath.Abs(*script); err == nil {
		r.wrkScript = abs
	}
	code := 0
	do := func() error { return r.main(*out, splitList(*only), splitList(*systems), *keep) }
	if *profile != "" {
		sc := "hit-1k-c64"
		if l := splitList(*only); len(l) > 0 {
			sc = l[0]
		}
		do = func() error { return r.profileMain(*profile, sc, filepath.Dir(*out), *keep) }
	}
	if err := do(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		code = 1
	}
	os.Exit(code)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (r *runner) main(out string, onlyScenarios, onlySystems []string, keep bool) (err error) {
	cleanup, err := r.setUp()
	if err != nil {
		return err
	}
	defer func() { cleanup(keep || err != nil) }()

	rep := &Report{Machine: machine(), Date: time.Now().UTC().Format(time.RFC3339)}
	fmt.Fprintf(r.log, "bench: %s; systems on cpu %d, wrk and origin on cpu %d; %d run(s) of %s each\n",
		rep.Machine, r.serverCPU, r.loadCPU, r.reps, r.duration)
	for _, g := range groups() {
		if g.full && r.quick && len(onlyScenarios) == 0 {
			fmt.Fprintf(r.log, "bench: %s: left out of -quick (name its scenarios with -scenarios to run them)\n", g.name)
			continue
		}
		g.scenarios = filterScenarios(g.scenarios, onlyScenarios, onlySystems)
		if len(g.scenarios) == 0 {
			continue
		}
		res, err := r.runGroup(g)
		rep.Results = append(rep.Results, res...)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
	}
	fmt.Println()
	rep.writeTable(os.Stdout)
	fmt.Println()
	rep.writeTargets(os.Stdout)
	if err := rep.writeJSON(out); err != nil {
		return err
	}
	fmt.Fprintln(r.log, "bench: wrote", out)
	return nil
}

// setUp finds the tools, makes the work directories, arranges for signals
// to stop everything, and starts the origin. cleanup stops every process
// and removes the directories (the work directory is kept if asked).
func (r *runner) setUp() (cleanup func(keep bool), err error) {
	if r.binDir == "" {
		return nil, fmt.Errorf("-bin is required (bench/run.sh builds the binaries)")
	}
	if err := r.findTools(); err != nil {
		return nil, err
	}
	if r.workDir, err = os.MkdirTemp("", "moat-bench-"); err != nil {
		return nil, err
	}
	_ = os.Chmod(r.workDir, 0o755) // nginx workers and the Varnish child run as other users
	r.cacheDir = r.workDir
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "moat-bench-"); err == nil {
			_ = os.Chmod(d, 0o755)
			r.cacheDir = d
		}
	}
	cleanup = func(keep bool) {
		r.procs.stopAll()
		if r.cacheDir != r.workDir {
			os.RemoveAll(r.cacheDir)
		}
		if keep {
			fmt.Fprintln(r.log, "bench: configs and logs kept in", r.workDir)
		} else {
			os.RemoveAll(r.workDir)
		}
	}

	// A signal stops everything this runner started, then exits.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintln(r.log, "bench: got", s, "- stopping everything")
		cleanup(false)
		os.Exit(130)
	}()

	if r.origin, err = r.startOrigin(strconv.Itoa(r.loadCPU), filepath.Join(r.workDir, "origin.log")); err != nil {
		cleanup(true)
		return nil, err
	}
	return cleanup, nil
}

func filterScenarios(scs []scenario, names, systems []string) []scenario {
	var out []scenario
	for _, sc := range scs {
		if len(names) > 0 && !contains(names, sc.name) {
			continue
		}
		if len(systems) > 0 {
			var keep []string
			for _, s := range sc.systems {
				if contains(systems, s) {
					keep = append(keep, s)
				}
			}
			sc.systems = keep
		}
		if len(sc.systems) > 0 {
			out = append(out, sc)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (r *runner) findTools() error {
	r.tools = map[string]string{}
	path := os.Getenv("PATH") + ":/usr/sbin:/sbin:/usr/local/sbin"
	var missing []string
	for _, t := range []string{"taskset", "wrk", "nginx", "varnishd", "varnishstat", "redis-server", "redis-benchmark"} {
		found := ""
		for _, dir := range filepath.SplitList(path) {
			p := filepath.Join(dir, t)
			if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
				found = p
				break
			}
		}
		if found == "" {
			missing = append(missing, t)
		}
		r.tools[t] = found
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing tools: %s (bench/run.sh installs them with apt-get)", strings.Join(missing, ", "))
	}
	return nil
}

// originServer is a bench/cmd/origin the runner started.
type originServer struct {
	p    *proc
	url  string // http://host
	host string // 127.0.0.1:port
	port string
}

// startOrigin starts an origin on cpus ("": unpinned).
func (r *runner) startOrigin(cpus, logPath string) (*originServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	o := &originServer{port: strconv.Itoa(port)}
	o.host = "127.0.0.1:" + o.port
	o.url = "http://" + o.host
	o.p, err = r.procs.start("origin", cpus, logPath, filepath.Join(r.binDir, "origin"), "-listen", o.host)
	if err != nil {
		return nil, err
	}
	return o, waitHTTP(o.p, o.url)
}

// stats reads the origin's request counters.
func (o *originServer) stats() (total, stampede int64, err error) {
	resp, err := http.Get(o.url + "/_stats")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var s struct {
		Requests int64            `json:"requests"`
		ByKind   map[string]int64 `json:"by_kind"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return 0, 0, err
	}
	return s.Requests, s.ByKind["stampede"], nil
}

// runGroup starts the systems the group needs, warms them, runs its
// scenarios and stops the systems.
func (r *runner) runGroup(g group) ([]Result, error) {
	var names []string
	for _, name := range systemOrder {
		for _, sc := range g.scenarios {
			if contains(sc.systems, name) && !contains(names, name) {
				names = append(names, name)
			}
		}
	}
	dir := filepath.Join(r.workDir, g.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	e, stopEnv, err := r.startEnv(g, dir)
	defer stopEnv()
	if err != nil {
		return nil, err
	}
	bases := map[string]string{}
	systems := map[string]system{}
	defer func() {
		for _, s := range systems {
			s.Stop()
		}
	}()
	for _, name := range names {
		s, err := newSystem(name)
		if err != nil {
			return nil, err
		}
		sdir := filepath.Join(dir, name)
		if err := os.MkdirAll(sdir, 0o755); err != nil {
			return nil, err
		}
		systems[name] = s
		base, err := s.Start(r, e, sdir)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
		bases[name] = base
	}
	for _, name := range names {
		var err error
		switch w, ok := systems[name].(warmer); {
		case ok:
			fmt.Fprintf(r.log, "bench: %s: warming %s\n", g.name, name)
			err = w.Warm(r, e)
		case g.warm != nil:
			fmt.Fprintf(r.log, "bench: %s: warming %s\n", g.name, name)
			err = g.warm(r, e, bases[name])
		}
		if err != nil {
			return nil, fmt.Errorf("warm %s: %w", name, err)
		}
	}
	var results []Result
	for _, sc := range g.scenarios {
		runs := map[string][]run{}
		for rep := range r.reps {
			for _, name := range rotate(sc.systems, rep) {
				var best run
				for attempt := 0; ; attempt++ {
					var ru run
					var err error
					if sc.args == nil {
						ru, err = r.stampede(e, bases[name], fmt.Sprintf("%s-%s-%d-%d", r.tag, name, rep, attempt))
					} else {
						ru, err = r.measure(sc, e, bases[name], systems[name])
					}
					if err != nil {
						return results, fmt.Errorf("%s on %s: %w", sc.name, name, err)
					}
					fmt.Fprintf(r.log, "bench: %-17s %-8s run %d: %7.0f req/s  p50 %6.2f ms  p99 %7.2f ms  cpu %5.1f µs/req %3.0f%%  others %3.0f%%/%3.0f%%  origin %d of %d  errors %d\n",
						sc.name, name, rep+1, ru.rps, ru.p50ms, ru.p99ms, ru.cpuPerRequestUS(), 100*ru.cpuUtil(),
						100*ru.othersUtil(), 100*ru.othersLoadUtil(), ru.originRequests, ru.requests, ru.errors)
					if attempt == 0 || ru.disturbance() < best.disturbance() {
						best = ru
					}
					if !ru.disturbed() || attempt >= r.retries || sc.args == nil {
						break
					}
					fmt.Fprintf(r.log, "bench: %s on %s was disturbed by other load; again (%d of %d)\n", sc.name, name, attempt+1, r.retries)
					time.Sleep(time.Second)
				}
				runs[name] = append(runs[name], best)
			}
		}
		for _, name := range systemOrder {
			if rs, ok := runs[name]; ok {
				_, self := systems[name].(selfMeasured)
				results = append(results, aggregate(sc.name, name, rs, sc.args != nil && !self, sc.args == nil))
			}
		}
	}
	return results, nil
}

// startEnv starts what the group's systems share besides the pinned origin:
// an unpinned origin for an unpinned group, Redis for an L2 group. stop
// stops them, and is to be called even when err is not nil.
func (r *runner) startEnv(g group, dir string) (e *env, stop func(), err error) {
	e = &env{budget: g.budget, cpus: strconv.Itoa(r.serverCPU), origin: r.origin}
	var started []*proc
	stop = func() {
		for _, p := range slices.Backward(started) {
			r.procs.stop(p)
		}
	}
	if g.unpinned {
		e.cpus = ""
		if e.origin, err = r.startOrigin("", filepath.Join(dir, "origin.log")); err != nil {
			return nil, stop, err
		}
		started = append(started, e.origin.p)
	}
	if g.redis {
		// Redis on the load core when the systems are pinned, its clients
		// on the server core.
		cpus := strconv.Itoa(r.loadCPU)
		if g.unpinned {
			cpus = ""
		}
		if e.redis, err = r.startRedis(dir, cpus); err != nil {
			return nil, stop, err
		}
		started = append(started, e.redis.p)
	}
	return e, stop, nil
}

// rotate returns list rotated left by n.
func rotate(list []string, n int) []string {
	if len(list) == 0 {
		return nil
	}
	n %= len(list)
	return append(append([]string(nil), list[n:]...), list[:n]...)
}

// measure runs wrk once (or lets a selfMeasured system measure itself) and
// counts what reached the origin meanwhile.
func (r *runner) measure(sc scenario, e *env, base string, s system) (run, error) {
	if sm, ok := s.(selfMeasured); ok {
		return sm.Measure(r, e, sc)
	}
	before, _, err := e.origin.stats()
	if err != nil {
		return run{}, err
	}
	args := sc.args
	if args[0] == "unique" {
		args = append([]string(nil), args...)
		args[2] = r.tag + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	var objects chan int64
	stopSampling := make(chan struct{})
	if sc.objects {
		objects = make(chan int64, 1)
		go sampleObjects(s, stopSampling, objects)
	}
	hits0, counted := int64(0), false
	hc, countsHits := s.(redisHitCounter)
	if countsHits {
		hits0, counted = hc.RedisHits()
	}
	// wrk: one thread on the load core, or two threads anywhere for an
	// unpinned group (it shares the cores with the system then).
	load := wrkLoad{cpus: strconv.Itoa(r.loadCPU), threads: 1}
	if e.cpus == "" {
		load = wrkLoad{threads: 2}
	}
	m0 := r.meter(e, s.Proc())
	w, err := r.runWrkWith(load, base, sc.conns, r.duration, args...)
	m := r.meter(e, s.Proc()).since(m0)
	close(stopSampling)
	if err != nil {
		return run{}, err
	}
	after, _, err := e.origin.stats()
	if err != nil {
		return run{}, err
	}
	ru := run{
		rps: w.RPS(), p50ms: w.P50US / 1000, p99ms: w.P99US / 1000, p999ms: w.P999US / 1000,
		errors: w.ErrorCount(), requests: w.Requests, originRequests: after - before,
		seconds: float64(w.DurationUS) / 1e6, objects: -1, redisHits: -1, cpu: m.server, redisCPU: m.redis,
	}
	// Whatever else ran on the cores meanwhile: other work on the machine
	// that the run competed with.
	if e.cpus == "" {
		// Unpinned, everything shares every core: others' share of the
		// whole machine stands for both.
		others := (ticks(m.all) - m.server - w.cpu - m.origin - m.redis) / time.Duration(runtime.NumCPU())
		ru.others, ru.othersLoad = max(others, 0), max(others, 0)
	} else {
		ru.others = max(ticks(m.serverCore)-m.server, 0)
		ru.othersLoad = max(ticks(m.loadCore)-w.cpu-m.origin-m.redis, 0)
	}
	if counted {
		if hits1, ok := hc.RedisHits(); ok {
			ru.redisHits = hits1 - hits0
		}
	}
	if sc.objects {
		ru.objects = <-objects
	}
	return ru, nil
}

// cpuMeter is the CPU time of a run's processes and the busy time of the
// cores, read before and after a run.
type cpuMeter struct {
	server, origin, redis     time.Duration
	serverCore, loadCore, all int64 // clock ticks
}

func (r *runner) meter(e *env, server *proc) cpuMeter {
	m := cpuMeter{server: server.cpuTime(), origin: e.origin.p.cpuTime(),
		serverCore: coreBusy(r.serverCPU), loadCore: coreBusy(r.loadCPU), all: coreBusy(allCores)}
	if e.redis != nil {
		m.redis = e.redis.p.cpuTime()
	}
	return m
}

func (m cpuMeter) since(m0 cpuMeter) cpuMeter {
	return cpuMeter{server: m.server - m0.server, origin: m.origin - m0.origin, redis: m.redis - m0.redis,
		serverCore: m.serverCore - m0.serverCore, loadCore: m.loadCore - m0.loadCore, all: m.all - m0.all}
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / clockTicks }

// sampleObjects reports the mean number of objects s holds, sampled every
// 500 ms until stop is closed.
func sampleObjects(s system, stop <-chan struct{}, mean chan<- int64) {
	var sum, n int64
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			if n == 0 {
				mean <- s.Objects()
				return
			}
			mean <- sum / n
			return
		case <-t.C:
			if o := s.Objects(); o >= 0 {
				sum, n = sum+o, n+1
			}
		}
	}
}

// stampede makes one key stale and sends stampedeN concurrent requests for
// it, counting how many reach the origin.
func (r *runner) stampede(e *env, base, id string) (run, error) {
	u := base + "/api/stampede/" + id
	resp, err := http.Get(u)
	if err != nil {
		return run{}, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return run{}, fmt.Errorf("warm %s: status %d", u, resp.StatusCode)
	}
	// Every system counts freshness in whole seconds, so 1.2 s after
	// max-age the entry is stale everywhere, and just so.
	time.Sleep(payload.StampedeMaxAge*time.Second + 1200*time.Millisecond)
	_, before, err := e.origin.stats()
	if err != nil {
		return run{}, err
	}
	cmd := exec.Command("taskset", "-c", strconv.Itoa(r.loadCPU), filepath.Join(r.binDir, "stampede"),
		"-url", u, "-n", strconv.Itoa(stampedeN))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = r.log
	out, err := cmd.Output()
	if err != nil {
		return run{}, fmt.Errorf("stampede: %w", err)
	}
	var s struct {
		Requests  int            `json:"requests"`
		Errors    int            `json:"errors"`
		FirstErr  string         `json:"first_error"`
		Statuses  map[string]int `json:"statuses"`
		ElapsedMS float64        `json:"elapsed_ms"`
		P50MS     float64        `json:"p50_ms"`
		P99MS     float64        `json:"p99_ms"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		return run{}, fmt.Errorf("stampede output: %w: %s", err, out)
	}
	// Background refreshes (nginx, Varnish) may still be on their way.
	time.Sleep(300 * time.Millisecond)
	_, after, err := e.origin.stats()
	if err != nil {
		return run{}, err
	}
	errs := int64(s.Requests - s.Statuses["200"]) // failed or not 200
	if s.FirstErr != "" || errs > 0 {
		fmt.Fprintf(r.log, "bench: stampede statuses %v, %d failed (first error: %q)\n", s.Statuses, s.Errors, s.FirstErr)
	}
	rps := 0.0
	if s.ElapsedMS > 0 {
		rps = float64(s.Requests) / (s.ElapsedMS / 1000)
	}
	return run{rps: rps, p50ms: s.P50MS, p99ms: s.P99MS, errors: errs,
		requests: int64(s.Requests), originRequests: after - before, objects: -1, redisHits: -1}, nil
}

// warmHot loads the hot set of both sizes into a cache.
func warmHot(r *runner, _ *env, base string) error {
	_, err := warmPaths(base, hotPaths([]string{"1k", "16k"}, hotIDs))
	return err
}

// hotPaths are /api/KIND/0 to /api/KIND/n-1 of each kind.
func hotPaths(kinds []string, n int) []string {
	var paths []string
	for _, kind := range kinds {
		for i := range n {
			paths = append(paths, "/api/"+kind+"/"+strconv.Itoa(i))
		}
	}
	return paths
}

// warmRedis loads n 1 KiB documents into a system with Redis behind it, in
// passes over the documents not yet answered from a cache (X-Cache: HIT),
// until a pass finds fewer than 1% of them missing (at most 8 passes).
// After each pass it waits for Redis to stop growing: moat sends its L2
// writes after the answer, from a queue drained by one goroutine, one round
// trip per write, and a lookup that misses its deadline is a miss, so one
// pass does not leave every document in Redis.
func warmRedis(r *runner, e *env, base string, n int) error {
	paths := hotPaths([]string{"1k"}, n)
	for pass := 1; ; pass++ {
		t0 := time.Now()
		missed, err := warmPaths(base, paths)
		if err != nil {
			return err
		}
		keys := e.redis.settle()
		fmt.Fprintf(r.log, "bench: warm pass %d: %d of %d not from the cache (%.1fs); Redis holds %d keys\n",
			pass, len(missed), len(paths), time.Since(t0).Seconds(), keys)
		if len(missed) < n/100 || pass == 8 {
			return nil
		}
		paths = missed
	}
}

// warmPaths requests every path once, 16 at a time, and returns the paths
// that were not answered from a cache (no X-Cache: HIT).
func warmPaths(base string, paths []string) (missed []string, err error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	work := make(chan string)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				resp, err := client.Get(base + p)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("%s: status %d", p, resp.StatusCode)
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err != nil || resp.Header.Get("X-Cache") != "HIT" {
					missed = append(missed, p)
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range paths {
		work <- p
	}
	close(work)
	wg.Wait()
	return missed, firstErr
}

// machine describes the host: CPU model, cores, kernel, OS.
func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	osName := runtime.GOOS
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
				osName = strings.Trim(v, `"`)
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs, Linux %s, %s", model, runtime.NumCPU(), kernel, osName)
}
