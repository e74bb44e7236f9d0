package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"time"
)

// budget is the cache size each system gets in one group of scenarios,
// written in each system's own unit of account (see docs/benchmarks.md):
// moat weighs an entry at Entry.Size (body, header fields, ~256 bytes of
// bookkeeping), nginx at the file-system blocks of its cache file, Varnish
// at its malloc storage allocations.
type budget struct {
	moat    string // cache.memory
	nginx   string // proxy_cache_path max_size
	varnish string // -s malloc,SIZE

	// moatSWR is the route's stale_while_revalidate. "10s" matches what
	// the others do out of the box or as configured here: Varnish's
	// default grace is 10 s, and nginx serves stale while one request
	// updates (proxy_cache_use_stale updating).
	moatSWR string
	// moatMemLimit, if set, is moat's GOMEMLIMIT instead of the limit it
	// derives from cache.memory (see l1Cold).
	moatMemLimit string
	// moatCompression is cache.compression. Off, moat stores and serves
	// the origin's bytes as nginx and Varnish do here; on (moat's
	// default), it stores a compressed copy and decodes it for clients
	// that do not accept the coding.
	moatCompression bool
}

// env is what the systems of one group run with.
type env struct {
	budget budget
	// cpus is the taskset -c list of the cores the systems run on; ""
	// runs them unpinned, on every core (the -2cpu scenarios).
	cpus   string
	origin *originServer
	redis  *redisServer // nil unless the group has Redis
}

// workers is how many worker processes or thread pools a system gets: one
// per core it may use.
func (e *env) workers() int {
	if e.cpus == "" {
		return runtime.NumCPU()
	}
	return len(strings.Split(e.cpus, ","))
}

// system is one cache under test (or the ceiling).
type system interface {
	Name() string
	// Start launches the system in dir with e's budget, cores, origin and
	// Redis, and returns its base URL once it answers HTTP.
	Start(r *runner, e *env, dir string) (string, error)
	// Objects returns how many responses the system holds, or -1.
	Objects() int64
	// Proc is the running server (nil before Start).
	Proc() *proc
	Stop()
}

func newSystem(name string) (system, error) {
	switch name {
	case "moat":
		return &moatSystem{}, nil
	case "nginx":
		return &nginxSystem{}, nil
	case "varnish":
		return &varnishSystem{}, nil
	case "ceiling":
		return &ceilingSystem{}, nil
	case "redisfront":
		return &redisfrontSystem{}, nil
	case "redis-benchmark":
		return &redisBenchmarkSystem{}, nil
	}
	return nil, fmt.Errorf("unknown system %q", name)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitHTTP polls base until it answers any HTTP response.
func waitHTTP(p *proc, base string) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited; see %s:\n%s", p.name, p.log, tail(p.log, 20))
		}
		resp, err := c.Get(base + "/_ready")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer on %s within 20s; see %s", p.name, base, p.log)
}

func tail(path string, lines int) string {
	b, _ := os.ReadFile(path)
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}

func render(t *template.Template, data any) []byte {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		panic(err) // the templates are constants; a failure is a bug
	}
	return b.Bytes()
}

// moat

var _ redisHitCounter = (*moatSystem)(nil)

var moatConfig = template.Must(template.New("moat").Parse(`# moat under benchmark: written by bench/cmd/runner.
listen: 127.0.0.1:{{.Port}}
admin: {listen: "127.0.0.1:{{.AdminPort}}", token: bench}
origin: {url: "{{.Origin}}", timeout: 10s}
cache:
  memory: {{.Memory}}
  max_object_size: 1MiB
  compression: {{.Compression}}
{{- if .Redis}}
  # write_queue: the warm-up fills thousands of entries a second; the
  # default queue (1,024) would drop most of their L2 writes. timeout: at
  # 64 connections on one saturated core, an L2 GET waits for the scheduler
  # longer than the default 10ms and turns into an origin fetch; 50ms (as in
  # fleettest, and redisfront's -timeout here) measures the L2 hit itself.
  redis: {addrs: ["{{.Redis}}"], write_queue: 65536, timeout: 50ms}
{{- end}}
log: {level: warn}   # no per-request logging
routes:
  - match: GET /api/{kind}/{id}
    ttl: 5m
    stale_while_revalidate: {{.SWR}}
`))

type moatSystem struct {
	r     *runner
	p     *proc
	admin string
}

func (m *moatSystem) Name() string { return "moat" }

func (m *moatSystem) Start(r *runner, e *env, dir string) (string, error) {
	b := e.budget
	m.r = r
	port, err := freePort()
	if err != nil {
		return "", err
	}
	adminPort, err := freePort()
	if err != nil {
		return "", err
	}
	conf := filepath.Join(dir, "moat.yaml")
	data := map[string]any{"Port": port, "AdminPort": adminPort, "Origin": e.origin.url, "Memory": b.moat, "SWR": b.moatSWR, "Compression": b.moatCompression, "Redis": ""}
	if e.redis != nil {
		data["Redis"] = e.redis.addr
	}
	if err := os.WriteFile(conf, render(moatConfig, data), 0o644); err != nil {
		return "", err
	}
	argv := []string{filepath.Join(r.binDir, "moat"), "serve", "--config", conf, "--drain", "2s"}
	if r.pprofAddr != "" {
		// moatprof is moat serve plus net/http/pprof (-tags moatprof).
		argv = []string{filepath.Join(r.binDir, "moatprof"), "-config", conf, "-pprof", r.pprofAddr}
	}
	if b.moatMemLimit != "" {
		// env execs moat: the PID the runner stops is moat's.
		argv = append([]string{"env", "GOMEMLIMIT=" + b.moatMemLimit}, argv...)
	}
	m.p, err = r.procs.start("moat", e.cpus, filepath.Join(dir, "moat.log"), argv...)
	if err != nil {
		return "", err
	}
	m.admin = fmt.Sprintf("http://127.0.0.1:%d", adminPort)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return base, waitHTTP(m.p, base)
}

// stats reads moat's /api/stats, by top-level key.
func (m *moatSystem) stats() (map[string]json.RawMessage, error) {
	req, _ := http.NewRequest("GET", m.admin+"/api/stats", nil)
	req.Header.Set("Authorization", "Bearer bench")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var s map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return nil, err
	}
	return s, nil
}

func (m *moatSystem) Objects() int64 {
	// The L1's entry count, under "cache" (or "memory" in older moats).
	s, err := m.stats()
	if err != nil {
		return -1
	}
	for _, k := range []string{"cache", "memory"} {
		var tier struct {
			Entries *int64 `json:"entries"`
		}
		if json.Unmarshal(s[k], &tier) == nil && tier.Entries != nil {
			return *tier.Entries
		}
	}
	return -1
}

// RedisHits is how many requests moat has answered from L2 so far.
func (m *moatSystem) RedisHits() (int64, bool) {
	s, err := m.stats()
	if err != nil {
		return 0, false
	}
	var fleet struct {
		L2 *struct {
			Hits int64 `json:"hits"`
		} `json:"l2"`
	}
	if json.Unmarshal(s["fleet"], &fleet) != nil || fleet.L2 == nil {
		return 0, false
	}
	return fleet.L2.Hits, true
}

func (m *moatSystem) Proc() *proc { return m.p }

func (m *moatSystem) Stop() {
	if m.p != nil {
		m.r.procs.stop(m.p)
		m.p = nil
	}
}

// nginx

// nginxConfig follows the proxy_cache practice of nginx's own guide
// ("A Guide to Caching with NGINX and NGINX Plus"): cache lock, stale while
// updating with background update, revalidation with conditional requests,
// keep-alive to the upstream. One worker per core it may use (1 pinned, 2
// in the -2cpu scenarios); the cache lives on tmpfs; no access log.
var nginxConfig = template.Must(template.New("nginx").Parse(`# nginx under benchmark: written by bench/cmd/runner.
worker_processes {{.Workers}};
daemon off;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log warn;
worker_rlimit_nofile 16384;

events {
    worker_connections 8192;
}

http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    keepalive_requests 1000000;  # the default (1000) would make wrk reconnect
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Cache}}/temp;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    proxy_cache_path {{.Cache}}/c levels=1:2 keys_zone=bench:64m max_size={{.MaxSize}}
                     inactive=1h use_temp_path=off manager_files=1000;

    upstream origin {
        server {{.OriginHost}};
        keepalive 128;
    }

    server {
        listen 127.0.0.1:{{.Port}} backlog=4096;

        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 10s;
            proxy_cache_use_stale updating error timeout http_500 http_502 http_503 http_504;
            proxy_cache_background_update on;
            proxy_cache_revalidate on;
        }
    }
}
`))

type nginxSystem struct {
	r     *runner
	p     *proc
	cache string
}

func (n *nginxSystem) Name() string { return "nginx" }

func (n *nginxSystem) Start(r *runner, e *env, dir string) (string, error) {
	n.r = r
	port, err := freePort()
	if err != nil {
		return "", err
	}
	n.cache = filepath.Join(r.cacheDir, filepath.Base(dir)+"-nginx")
	// Workers run as nobody: they must be able to write the cache and the
	// temporary directories.
	for _, d := range []string{n.cache, filepath.Join(n.cache, "c"), filepath.Join(n.cache, "temp")} {
		if err := os.MkdirAll(d, 0o777); err != nil {
			return "", err
		}
		_ = os.Chmod(d, 0o777)
	}
	conf := filepath.Join(dir, "nginx.conf")
	data := map[string]any{"Dir": dir, "Cache": n.cache, "MaxSize": e.budget.nginx, "OriginHost": e.origin.host, "Port": port, "Workers": e.workers()}
	if err := os.WriteFile(conf, render(nginxConfig, data), 0o644); err != nil {
		return "", err
	}
	n.p, err = r.procs.start("nginx", e.cpus, filepath.Join(dir, "nginx.log"),
		r.tools["nginx"], "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	if err != nil {
		return "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return base, waitHTTP(n.p, base)
}

// Objects counts cache files (temporary files excluded).
func (n *nginxSystem) Objects() int64 {
	var count int64
	_ = filepath.WalkDir(filepath.Join(n.cache, "c"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && !strings.Contains(d.Name(), ".") {
			count++
		}
		return nil
	})
	return count
}

func (n *nginxSystem) Proc() *proc { return n.p }

func (n *nginxSystem) Stop() {
	if n.p != nil {
		n.r.procs.stop(n.p)
		n.p = nil
	}
	if n.cache != "" {
		_ = os.RemoveAll(n.cache)
	}
}

// Varnish

// varnishVCL is only a backend: the built-in VCL does the rest, which is
// what Varnish's documentation recommends as the starting point. Nothing
// in it changes what is cached or for how long.
var varnishVCL = template.Must(template.New("vcl").Parse(`vcl 4.1;
# Varnish under benchmark: written by bench/cmd/runner. The built-in VCL
# applies; nothing here changes caching.
backend origin {
    .host = "127.0.0.1";
    .port = "{{.OriginPort}}";
}
`))

type varnishSystem struct {
	r   *runner
	p   *proc
	dir string
}

func (v *varnishSystem) Name() string { return "varnish" }

func (v *varnishSystem) Start(r *runner, e *env, dir string) (string, error) {
	v.r = r
	port, err := freePort()
	if err != nil {
		return "", err
	}
	adminPort, err := freePort()
	if err != nil {
		return "", err
	}
	vcl := filepath.Join(dir, "bench.vcl")
	if err := os.WriteFile(vcl, render(varnishVCL, map[string]any{"OriginPort": e.origin.port}), 0o644); err != nil {
		return "", err
	}
	v.dir = filepath.Join(dir, "varnish")
	v.p, err = r.procs.start("varnish", e.cpus, filepath.Join(dir, "varnish.log"),
		r.tools["varnishd"], "-F",
		"-n", v.dir,
		"-a", fmt.Sprintf("127.0.0.1:%d", port),
		"-T", fmt.Sprintf("127.0.0.1:%d", adminPort),
		"-f", vcl,
		"-s", "malloc,"+e.budget.varnish,
		// One pool per core it may use (1 pinned; 2, Varnish's default,
		// in the -2cpu scenarios), and enough threads started up front
		// for the largest concurrency of the scenarios (c512, and the
		// 1,000-request stampede), as Varnish's tuning advice says;
		// threads are one per active connection.
		"-p", "thread_pools="+strconv.Itoa(e.workers()),
		"-p", "thread_pool_min=1000",
		"-p", "thread_pool_max=5000",
	)
	if err != nil {
		return "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return base, waitHTTP(v.p, base)
}

// Objects reads MAIN.n_object with varnishstat.
func (v *varnishSystem) Objects() int64 {
	tool := v.r.tools["varnishstat"]
	if tool == "" {
		return -1
	}
	out, err := exec.Command(tool, "-n", v.dir, "-1", "-f", "MAIN.n_object").Output()
	if err != nil {
		return -1
	}
	f := strings.Fields(string(out))
	if len(f) < 2 {
		return -1
	}
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func (v *varnishSystem) Proc() *proc { return v.p }

func (v *varnishSystem) Stop() {
	if v.p != nil {
		v.r.procs.stop(v.p)
		v.p = nil
	}
}

// ceiling

type ceilingSystem struct {
	r *runner
	p *proc
}

func (c *ceilingSystem) Name() string { return "ceiling" }

func (c *ceilingSystem) Start(r *runner, e *env, dir string) (string, error) {
	c.r = r
	port, err := freePort()
	if err != nil {
		return "", err
	}
	argv := []string{filepath.Join(r.binDir, "ceiling"), "-listen", fmt.Sprintf("127.0.0.1:%d", port), "-ids", strconv.Itoa(hotIDs)}
	if r.pprofAddr != "" {
		argv = append(argv, "-pprof", r.pprofAddr)
	}
	c.p, err = r.procs.start("ceiling", e.cpus, filepath.Join(dir, "ceiling.log"), argv...)
	if err != nil {
		return "", err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	return base, waitHTTP(c.p, base)
}

func (c *ceilingSystem) Objects() int64 { return -1 }

func (c *ceilingSystem) Proc() *proc { return c.p }

func (c *ceilingSystem) Stop() {
	if c.p != nil {
		c.r.procs.stop(c.p)
		c.p = nil
	}
}
