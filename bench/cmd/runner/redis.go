package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The L2 groups (issue #17) start a redis-server of their own on the load
// core, beside wrk and the origin: the systems on the server core are its
// clients, as moat is in production, and their CPU per request is their
// own. Redis's CPU is measured apart (redis_cpu_us_per_req).

// redisServer is a redis-server the runner started: no persistence, bound
// to loopback.
type redisServer struct {
	p    *proc
	addr string // 127.0.0.1:port
	port string
}

func (r *runner) startRedis(dir, cpus string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	rs := &redisServer{port: strconv.Itoa(port), addr: "127.0.0.1:" + strconv.Itoa(port)}
	rs.p, err = r.procs.start("redis", cpus, filepath.Join(dir, "redis.log"), r.tools["redis-server"],
		"--port", rs.port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--protected-mode", "no")
	if err != nil {
		return nil, err
	}
	return rs, waitRedis(rs)
}

// waitRedis polls rs with PING until it answers PONG.
func waitRedis(rs *redisServer) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if rs.p.exited() {
			return fmt.Errorf("redis-server exited; see %s:\n%s", rs.p.log, tail(rs.p.log, 20))
		}
		if c, err := net.DialTimeout("tcp", rs.addr, time.Second); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.HasPrefix(line, "+PONG") {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("redis-server did not answer on %s within 20s; see %s", rs.addr, rs.p.log)
}

// settle waits until the number of keys in Redis has not changed for a
// second (writes queued by a system have landed), at most 30 s, and
// returns it.
func (rs *redisServer) settle() int64 {
	last, since := int64(-1), time.Now()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		n, err := rs.dbsize()
		if err != nil {
			continue
		}
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= time.Second {
			break
		}
	}
	return last
}

// dbsize is DBSIZE: the number of keys in Redis.
func (rs *redisServer) dbsize() (int64, error) {
	c, err := net.DialTimeout("tcp", rs.addr, time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("DBSIZE\r\n")); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return 0, err
	}
	v, ok := strings.CutPrefix(strings.TrimSpace(line), ":")
	if !ok {
		return 0, fmt.Errorf("DBSIZE: %q", line)
	}
	return strconv.ParseInt(v, 10, 64)
}

// redisHitCounter is a system that counts the requests it answered from
// Redis; the report shows their share of the run's requests.
type redisHitCounter interface {
	RedisHits() (int64, bool)
}

// selfMeasured is a system that is not driven by wrk: it measures itself.
type selfMeasured interface {
	Measure(r *runner, e *env, sc scenario) (run, error)
}

// warmer is a system that warms itself instead of taking the group's warm.
type warmer interface {
	Warm(r *runner, e *env) error
}

// redisfront: bench/cmd/redisfront, Redis in front of the API.

// redisTimeout bounds each Redis GET of redisfront, as cache.redis.timeout
// bounds moat's in moatConfig.
const redisTimeout = "50ms"

var _ redisHitCounter = (*redisfrontSystem)(nil)

type redisfrontSystem struct {
	r    *runner
	p    *proc
	base string
}

func (f *redisfrontSystem) Name() string { return "redisfront" }

func (f *redisfrontSystem) Start(r *runner, e *env, dir string) (string, error) {
	if e.redis == nil {
		return "", fmt.Errorf("redisfront needs a group with Redis")
	}
	f.r = r
	port, err := freePort()
	if err != nil {
		return "", err
	}
	f.p, err = r.procs.start("redisfront", e.cpus, filepath.Join(dir, "redisfront.log"),
		filepath.Join(r.binDir, "redisfront"), "-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"-redis", e.redis.addr, "-origin", e.origin.url, "-timeout", redisTimeout)
	if err != nil {
		return "", err
	}
	f.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	return f.base, waitHTTP(f.p, f.base)
}

// RedisHits is how many requests redisfront answered from Redis so far.
func (f *redisfrontSystem) RedisHits() (int64, bool) {
	resp, err := http.Get(f.base + "/_stats")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var s struct {
		Hits int64 `json:"hits"`
	}
	if json.NewDecoder(resp.Body).Decode(&s) != nil {
		return 0, false
	}
	return s.Hits, true
}

func (f *redisfrontSystem) Objects() int64 { return -1 }
func (f *redisfrontSystem) Proc() *proc    { return f.p }

func (f *redisfrontSystem) Stop() {
	if f.p != nil {
		f.r.procs.stop(f.p)
		f.p = nil
	}
}

// redis-benchmark: what a Redis GET of the same size costs on this machine,
// the yardstick of an L2 hit. It is Redis's own client (C, one event loop),
// run where the systems run, so that it is to the group's Redis what moat
// is: a client on the server core.

const (
	// redisValueSize is the size of the values redis-benchmark SETs and
	// GETs: the 1 KiB bodies of the scenarios.
	redisValueSize = 1024
	// redisBenchRate is roughly how many GETs per second redis-benchmark
	// does here; it sizes -n so that a run lasts about -duration.
	redisBenchRate = 50_000
)

var (
	_ selfMeasured = (*redisBenchmarkSystem)(nil)
	_ warmer       = (*redisBenchmarkSystem)(nil)
)

type redisBenchmarkSystem struct{}

func (*redisBenchmarkSystem) Name() string { return "redis-benchmark" }

func (*redisBenchmarkSystem) Start(r *runner, e *env, dir string) (string, error) {
	if e.redis == nil {
		return "", fmt.Errorf("redis-benchmark needs a group with Redis")
	}
	return "redis://" + e.redis.addr, nil
}

// Warm SETs every key the GETs will read (-r hotIDs: keys key:000000000000
// to key:000000000999), 20 times over so that none is left out.
func (*redisBenchmarkSystem) Warm(r *runner, e *env) error {
	_, _, err := r.redisBenchmark(e, 64, 20*hotIDs, "set")
	return err
}

func (*redisBenchmarkSystem) Measure(r *runner, e *env, sc scenario) (run, error) {
	n := int(r.duration.Seconds() * redisBenchRate)
	loadBusy0, busy0 := coreBusy(r.loadCPU), coreBusy(r.serverCPU)
	redis0, origin0 := e.redis.p.cpuTime(), e.origin.p.cpuTime()
	res, client, err := r.redisBenchmark(e, sc.conns, n, "get")
	if err != nil {
		return run{}, err
	}
	redisCPU, originCPU := e.redis.p.cpuTime()-redis0, e.origin.p.cpuTime()-origin0
	others := ticks(coreBusy(r.serverCPU)-busy0) - client
	othersLoad := ticks(coreBusy(r.loadCPU)-loadBusy0) - redisCPU - originCPU
	return run{rps: res.rps, p50ms: res.p50ms, p99ms: res.p99ms, requests: int64(n),
		seconds: float64(n) / res.rps, objects: -1, redisHits: -1,
		cpu: client, redisCPU: redisCPU, others: max(others, 0), othersLoad: max(othersLoad, 0)}, nil
}

// redisBenchResult is the line of redis-benchmark --csv for one test.
type redisBenchResult struct {
	rps, p50ms, p99ms float64
}

// redisBenchmark runs redis-benchmark -t test against the group's Redis,
// pinned to the server core, and returns its result and its CPU time.
func (r *runner) redisBenchmark(e *env, conns, n int, test string) (redisBenchResult, time.Duration, error) {
	cmd := pinned(strconv.Itoa(r.serverCPU), r.tools["redis-benchmark"], "-h", "127.0.0.1", "-p", e.redis.port,
		"-t", test, "-d", strconv.Itoa(redisValueSize), "-c", strconv.Itoa(conns), "-n", strconv.Itoa(n),
		"-r", strconv.Itoa(hotIDs), "--csv")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return redisBenchResult{}, 0, fmt.Errorf("redis-benchmark: %w\n%s", err, stderr.Bytes())
	}
	res, err := parseRedisBenchmark(out, test)
	if err != nil {
		return redisBenchResult{}, 0, err
	}
	var cpu time.Duration
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return res, cpu, nil
}

// parseRedisBenchmark reads the line of test in redis-benchmark --csv
// output:
//
//	"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
//	"GET","61050.06","0.553","0.144","0.535","0.703","0.871","2.639"
func parseRedisBenchmark(out []byte, test string) (redisBenchResult, error) {
	rows, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil {
		return redisBenchResult{}, fmt.Errorf("redis-benchmark output: %w:\n%s", err, out)
	}
	var cols map[string]int
	for _, row := range rows {
		if len(row) > 0 && row[0] == "test" {
			cols = map[string]int{}
			for i, name := range row {
				cols[name] = i
			}
			continue
		}
		if cols == nil || len(row) == 0 || !strings.EqualFold(row[0], test) {
			continue
		}
		field := func(name string) (float64, error) {
			i, ok := cols[name]
			if !ok || i >= len(row) {
				return 0, fmt.Errorf("redis-benchmark output has no %s column", name)
			}
			return strconv.ParseFloat(row[i], 64)
		}
		var res redisBenchResult
		var errs [3]error
		res.rps, errs[0] = field("rps")
		res.p50ms, errs[1] = field("p50_latency_ms")
		res.p99ms, errs[2] = field("p99_latency_ms")
		for _, err := range errs {
			if err != nil {
				return redisBenchResult{}, err
			}
		}
		if res.rps <= 0 {
			return redisBenchResult{}, fmt.Errorf("redis-benchmark: %s at %v requests/s", test, res.rps)
		}
		return res, nil
	}
	return redisBenchResult{}, fmt.Errorf("redis-benchmark output has no %s line:\n%s", test, out)
}

func (*redisBenchmarkSystem) Objects() int64 { return -1 }
func (*redisBenchmarkSystem) Proc() *proc    { return nil }
func (*redisBenchmarkSystem) Stop()          {}
