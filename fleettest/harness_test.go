package fleettest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/redistest"
)

const (
	// host is the Host every client request carries, as behind a load
	// balancer: all nodes key the same URL the same way.
	host = "api.example"
	// adminToken is the bearer token of every node's admin API.
	adminToken = "fleettest-admin-token-6f1d9c2e8b4a7350"
	// callTimeout bounds every HTTP call the tests make.
	callTimeout = 5 * time.Second
	// startTimeout bounds a node's start, from exec to /readyz.
	startTimeout = 20 * time.Second
	// pollEvery is the period of every poll.
	pollEvery = 20 * time.Millisecond
)

// moatBin is the moat binary TestMain built.
var moatBin string

func TestMain(m *testing.M) { os.Exit(run(m)) }

// run builds cmd/moat once (without -race), runs the tests and removes the
// binary.
func run(m *testing.M) int {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		fmt.Fprintf(os.Stderr, "fleettest: go env GOMOD = %q, %v: not inside the moat module\n", gomod, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "fleettest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleettest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	moatBin = filepath.Join(dir, "moat")
	build := exec.Command("go", "build", "-o", moatBin, "./cmd/moat")
	build.Dir = filepath.Dir(gomod)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "fleettest: go build ./cmd/moat: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// origin is the API behind the fleet. It counts requests by method and
// URI. GETs say public, max-age=300, except the first answer for a path
// under /swr/ or with a /short/ segment, which says max-age=1 (so that it
// goes stale while the test watches, and its refresh stays fresh while the
// test looks at it); /swr/ answers add stale-while-revalidate=60, and both
// kinds carry an ETag of their version ("v2"). Every GET is tagged
// item:<path> and all, and its body names the path and how many times the
// origin has answered it ("/items/1 v2"), so a new body means a new origin
// request; under /big/ that line is followed by bigPad (for entries larger
// than a configured cache.redis.max_object_size). Other methods get 204.
type origin struct {
	*httptest.Server
	// hold, if set, runs before a GET is answered, with the request and its
	// number for its URI (1 for the first): a slow origin, or one gated by a
	// channel.
	hold func(r *http.Request, n int)

	mu   sync.Mutex
	hits map[string]int // "GET /items/1" → requests
}

// newOrigin starts an origin; hold may be nil. It is closed when the test
// ends.
func newOrigin(t *testing.T, hold func(r *http.Request, n int)) *origin {
	t.Helper()
	o := &origin{hold: hold, hits: map[string]int{}}
	o.Server = httptest.NewServer(o)
	t.Cleanup(o.Close)
	return o
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	id := r.Method + " " + r.URL.RequestURI()
	o.hits[id]++
	n := o.hits[id]
	o.mu.Unlock()
	_, _ = io.Copy(io.Discard, r.Body)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if o.hold != nil {
		o.hold(r, n)
	}
	cc := "public, max-age=300"
	swr := strings.HasPrefix(r.URL.Path, "/swr/")
	if swr || strings.Contains(r.URL.Path, "/short/") {
		if n == 1 {
			cc = "max-age=1"
		}
		if swr {
			cc += ", stale-while-revalidate=60"
		}
		w.Header().Set("ETag", fmt.Sprintf(`"v%d"`, n))
	}
	w.Header().Set("Cache-Control", cc)
	w.Header().Set("Surrogate-Key", "item:"+r.URL.Path+" all")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%s v%d", r.URL.Path, n)
	if strings.HasPrefix(r.URL.Path, "/big/") {
		_, _ = io.WriteString(w, bigPad)
	}
}

// bigPad makes a /big/ body 32KiB of hex digests: about 16KiB once
// compressed, however its encoder tries.
var bigPad = func() string {
	var b strings.Builder
	b.WriteByte('\n')
	sum := sha256.Sum256(nil)
	for b.Len() < 32<<10 {
		sum = sha256.Sum256(sum[:])
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()
}()

// count returns how many requests the origin got for method and uri.
func (o *origin) count(method, uri string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[method+" "+uri]
}

// body is what the origin answers for path on its nth request.
func body(path string, n int) string {
	b := fmt.Sprintf("%s v%d", path, n)
	if strings.HasPrefix(path, "/big/") {
		b += bigPad
	}
	return b
}

// redisConf is the cache.redis section of a node's config.
type redisConf struct {
	mode  string // standalone or cluster
	addrs []string
	grace string // cache.redis.bus.grace; "" keeps the default
	extra string // more cache.redis keys, in YAML flow syntax ("max_object_size: 1KiB")
}

func standalone(s *redistest.Server) redisConf {
	return redisConf{mode: "standalone", addrs: []string{s.Addr}}
}

func cluster(c *redistest.Cluster) redisConf {
	return redisConf{mode: "cluster", addrs: c.Addrs}
}

// node is one `moat serve` child process.
type node struct {
	name  string
	proxy string // http://host:port of the gateway listener
	admin string // http://host:port of the admin listener
	log   string // the file taking its stdout and stderr
	cmd   *exec.Cmd
}

// fleet is an origin and the nodes in front of it, sharing one Redis, with
// the HTTP client the test talks to them through.
type fleet struct {
	origin *origin
	nodes  []*node
	client *http.Client
}

// startFleet starts n nodes in front of o, sharing rc under a key prefix of
// the test's own (so that tests sharing a Redis never see each other's
// keys or purges).
func startFleet(t *testing.T, o *origin, rc redisConf, n int) *fleet {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	f := &fleet{origin: o, client: &http.Client{Timeout: callTimeout, Transport: tr}}
	prefix := keyPrefix(t)
	for i := range n {
		name := string(rune('A' + i))
		f.nodes = append(f.nodes, startNode(t, f.client, name, nodeConfig(o.URL, rc, prefix)))
	}
	// Stop them all at once: each takes up to a second to stop (its bus
	// reader is in a blocking read). Each node's own cleanup then waits
	// for it.
	t.Cleanup(func() {
		for _, n := range f.nodes {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
		}
	})
	return f
}

// keyPrefix is cache.redis.key_prefix for the test: its name, in
// characters that are safe in a Redis Cluster key (no hash tag braces).
func keyPrefix(t *testing.T) string {
	var b strings.Builder
	b.WriteString("ft-")
	for _, r := range t.Name() {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	b.WriteByte(':')
	return b.String()
}

// nodeConfig is a node's moat.yaml. Both listeners take port 0 (a free
// port picked by the kernel, never raced for); the node logs them in JSON.
func nodeConfig(originURL string, rc redisConf, prefix string) string {
	addrs, _ := json.Marshal(rc.addrs)
	more := ""
	if rc.grace != "" {
		more += fmt.Sprintf(", bus: {grace: %s}", rc.grace)
	}
	if rc.extra != "" {
		more += ", " + rc.extra
	}
	return fmt.Sprintf(`listen: 127.0.0.1:0
origin: {url: %q}
admin: {listen: 127.0.0.1:0, token: %q}
log: {format: json, level: info}
cache:
  memory: 64MiB
  redis: {addrs: %s, mode: %s, timeout: 50ms, key_prefix: %q%s}
routes:
  - match: GET /items/{id}
    ttl: 5m
  - match: GET /swr/{id}
    stale_while_revalidate: 1m
`, originURL, adminToken, addrs, rc.mode, prefix, more)
}

// startNode writes cfg and runs `moat serve` on it, and returns once the
// node has logged its listeners, its admin /readyz says ready and its
// gateway port accepts connections. The process is stopped by PID when the
// test ends (SIGTERM, then SIGKILL after 5s); if the test failed, the tail
// of its log is written to the test log.
func startNode(t *testing.T, client *http.Client, name, cfg string) *node {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "moat.yaml")
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, log: filepath.Join(dir, "moat.log")}
	logFile, err := os.Create(n.log)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(moatBin, "serve", "--config", conf, "--drain", "2s")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	n.cmd = cmd
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait() // how it ended is in its log
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("node %s (%s), last lines of its log:\n%s", n.name, n.log, n.logTail())
		}
	})

	deadline := time.Now().Add(startTimeout)
	for n.proxy == "" {
		if line := n.servingLine(); line != "" {
			var v struct{ Listen, Admin string }
			if err := json.Unmarshal([]byte(line), &v); err != nil || v.Listen == "" || v.Admin == "" {
				t.Fatalf("node %s: cannot read its listeners from %q: %v", name, line, err)
			}
			n.proxy, n.admin = "http://"+v.Listen, "http://"+v.Admin
			break
		}
		n.wait(t, exited, deadline, "log its listeners")
	}
	for !n.ready(client) {
		n.wait(t, exited, deadline, "report ready")
	}
	return n
}

// wait waits one poll period before the next look at a starting node, and
// fails the test if the node exited or the deadline passed.
func (n *node) wait(t *testing.T, exited <-chan struct{}, deadline time.Time, what string) {
	t.Helper()
	if time.Now().After(deadline) {
		t.Fatalf("node %s did not %s within %s:\n%s", n.name, what, startTimeout, n.logTail())
	}
	select {
	case <-exited:
		t.Fatalf("node %s exited before it could %s:\n%s", n.name, what, n.logTail())
	case <-time.After(pollEvery):
	}
}

// servingLine returns the node's "moat serving" log line, or "".
func (n *node) servingLine() string {
	data, _ := os.ReadFile(n.log)
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.Contains(line, `"msg":"moat serving"`) {
			return line
		}
	}
	return ""
}

// ready reports whether the admin /readyz says ready and the gateway port
// accepts connections.
func (n *node) ready(client *http.Client) bool {
	resp, err := client.Get(n.admin + "/readyz")
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(n.proxy, "http://"), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// logTail returns the last 4 KiB of the node's log.
func (n *node) logTail() string {
	data, err := os.ReadFile(n.log)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const tail = 4 << 10
	if len(data) > tail {
		data = data[len(data)-tail:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return string(data)
}

// answer is what a node answered one request.
type answer struct {
	status      int
	body        string
	xcache      string // X-Cache
	cacheStatus string // Cache-Status
	took        time.Duration
	err         error
}

// hit reports whether the answer came from a cache (X-Cache HIT, or a
// Cache-Status with the hit parameter).
func (a answer) hit() bool {
	if a.xcache == "HIT" {
		return true
	}
	for p := range strings.SplitSeq(a.cacheStatus, ";") {
		if strings.TrimSpace(p) == "hit" {
			return true
		}
	}
	return false
}

func (a answer) String() string {
	if a.err != nil {
		return fmt.Sprintf("error after %s: %v", a.took, a.err)
	}
	b, _, cut := strings.Cut(a.body, "\n") // a /big/ body: its first line
	if cut {
		b += " +pad"
	}
	return fmt.Sprintf("%d %q (X-Cache: %s; Cache-Status: %s; %s)", a.status, b, a.xcache, a.cacheStatus, a.took.Round(time.Millisecond))
}

// do sends method path to n's gateway with the fleet's Host.
func (f *fleet) do(n *node, method, path string) answer {
	return f.doWithin(n, method, path, callTimeout)
}

// doWithin is do with a shorter timeout than the client's.
func (f *fleet) doWithin(n *node, method, path string, timeout time.Duration) answer {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, method, n.proxy+path, nil)
	if err != nil {
		return answer{err: err}
	}
	req.Host = host
	resp, err := f.client.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{
		status: resp.StatusCode, body: string(b), err: err, took: time.Since(start),
		xcache: resp.Header.Get("X-Cache"), cacheStatus: resp.Header.Get("Cache-Status"),
	}
}

func (f *fleet) get(n *node, path string) answer { return f.do(n, http.MethodGet, path) }

// mustGet GETs path through n and fails the test unless the answer is a
// 200.
func (f *fleet) mustGet(t *testing.T, n *node, path string) answer {
	t.Helper()
	a := f.get(n, path)
	if a.err != nil || a.status != http.StatusOK {
		t.Fatalf("GET %s through %s: %v, want 200; counters:%s", path, n.name, a, f.fleetMetrics())
	}
	return a
}

// purge POSTs a purge (JSON) to n's admin API and returns the status and
// the answer's body.
func (f *fleet) purge(t *testing.T, n *node, purge string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.admin+"/purge", strings.NewReader(purge))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("POST /purge %s through %s: %v", purge, n.name, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// inspection is the part of the admin /api/inspect answer the tests read:
// what the node holds for a URL, without forwarding anything or starting a
// refresh.
type inspection struct {
	Stored bool   `json:"stored"`
	Fresh  bool   `json:"fresh"`
	ETag   string `json:"etag"`
}

// inspect asks n's admin API what it holds for path (with the fleet's
// Host).
func (f *fleet) inspect(t *testing.T, n *node, path string) inspection {
	t.Helper()
	q := url.Values{"url": {"http://" + host + path}}
	req, err := http.NewRequest(http.MethodGet, n.admin+"/api/inspect?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("inspect %s on %s: %v", path, n.name, err)
	}
	defer resp.Body.Close()
	var in inspection
	if err := json.NewDecoder(resp.Body).Decode(&in); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("inspect %s on %s: %d, %v", path, n.name, resp.StatusCode, err)
	}
	return in
}

// eventually polls cond every pollEvery until it reports true, and fails
// the test with its last detail if that takes longer than timeout. It
// returns how long it took.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		ok, detail := cond()
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, detail)
		}
		time.Sleep(pollEvery)
	}
}

// metrics returns n's Prometheus samples whose name starts with one of
// prefixes (for failure messages: L2, lease, bus and Redis counters).
func (f *fleet) metrics(n *node, prefixes ...string) string {
	req, err := http.NewRequest(http.MethodGet, n.admin+"/metrics", nil)
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := f.client.Do(req)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var b strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.Contains(line, "_bucket{") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(line, p) {
				fmt.Fprintf(&b, "\n  %s: %s", n.name, line)
				break
			}
		}
	}
	return b.String()
}

// fleetMetrics is every node's L2, lease, bus and Redis counters.
func (f *fleet) fleetMetrics() string {
	var b strings.Builder
	for _, n := range f.nodes {
		b.WriteString(f.metrics(n, "moat_l2_", "moat_redis_", "moat_bus_", "moat_lock_"))
	}
	return b.String()
}

// counter returns the value of one of n's Prometheus samples, written as
// in the exposition (`moat_l2_writes_total{result="written"}`); -1 if it
// is missing.
func (f *fleet) counter(n *node, sample string) float64 {
	for line := range strings.SplitSeq(f.metrics(n, sample+" "), "\n") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimPrefix(strings.TrimSpace(line), n.name+": "+sample+" "), &v); err == nil {
			return v
		}
	}
	return -1
}
