package flood

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const adminToken = "flood-suite-admin-token-5e1c0b7a"

// buildMoat builds cmd/moat of the module under test (without -race: the
// race detector's shadow memory would swamp the figures) and returns the
// binary's path; MOAT_BIN names a binary to measure instead.
func buildMoat(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("MOAT_BIN"); bin != "" {
		return bin
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		t.Fatalf("go env GOMOD = %q, %v: not inside the moat module", gomod, err)
	}
	bin := filepath.Join(t.TempDir(), "moat")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/moat")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/moat: %v\n%s", err, out)
	}
	return bin
}

// moatProc is a running moat subprocess.
type moatProc struct {
	cmd   *exec.Cmd
	proxy string // base URL of the gateway listener
	admin string // base URL of the admin listener
	log   *lineLog
}

// startMoat writes cfg to a file and runs `moat serve` on it; cfg must have
// both listeners on port 0 and log.format json, so that the bound addresses
// are read from the "moat serving" line. The process is stopped (SIGTERM,
// then SIGKILL) by PID when the test ends.
func startMoat(t *testing.T, bin, cfg string) *moatProc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &moatProc{log: newLineLog()}
	p.cmd = exec.Command(bin, "serve", "--config", path, "--drain", "2s")
	p.cmd.Env = moatEnv()
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = p.cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("moat log (without gctrace):\n%s", strings.Join(p.log.lines(`"level"`), "\n"))
		}
	})
	select {
	case line := <-p.log.serving:
		var v struct{ Listen, Admin string }
		if err := json.Unmarshal([]byte(line), &v); err != nil || v.Listen == "" || v.Admin == "" {
			t.Fatalf("cannot read the listeners from %q: %v", line, err)
		}
		p.proxy, p.admin = "http://"+v.Listen, "http://"+v.Admin
	case <-exited:
		t.Fatalf("moat exited at start:\n%s", p.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("moat did not report serving within 30s:\n%s", p.log.String())
	}
	return p
}

// moatEnv is the test's environment without the settings that would
// override what moat derives from its config (GOMEMLIMIT, GOGC, GODEBUG),
// so that moat is measured as it runs by default, plus GODEBUG=gctrace=1
// for the live heap (see liveHeap). MOAT_FLOOD_GOMEMLIMIT, if set, is
// passed as GOMEMLIMIT, to try another limit.
func moatEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "GOMEMLIMIT", "GOGC", "GODEBUG":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "GODEBUG=gctrace=1")
	if v := os.Getenv("MOAT_FLOOD_GOMEMLIMIT"); v != "" {
		env = append(env, "GOMEMLIMIT="+v)
	}
	return env
}

var gcTrace = regexp.MustCompile(`^gc \d+ .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// liveHeap returns the heap the last garbage collection found live, and
// the goal it set, in MiB, from moat's gctrace lines (0, 0 before any).
func (p *moatProc) liveHeap() (live, goal int64) {
	lines := p.log.lines(" MB goal")
	for i := len(lines) - 1; i >= 0; i-- {
		if m := gcTrace.FindStringSubmatch(lines[i]); m != nil {
			live, _ = strconv.ParseInt(m[3], 10, 64)
			goal, _ = strconv.ParseInt(m[4], 10, 64)
			return live, goal
		}
	}
	return 0, 0
}

// lineLog keeps what moat writes and hands the "moat serving" line over.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	partial []byte
	serving chan string
	sent    bool
}

func newLineLog() *lineLog { return &lineLog{serving: make(chan string, 1)} }

func (l *lineLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if !l.sent && strings.Contains(line, `"msg":"moat serving"`) {
			l.serving <- line
			l.sent = true
		}
	}
	return len(b), nil
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the logged lines that contain s.
func (l *lineLog) lines(s string) []string {
	var out []string
	for line := range strings.SplitSeq(l.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// memory is what /proc/PID/status says of the process's resident set.
type memory struct {
	rss, peak int64 // VmRSS and VmHWM, bytes
}

func (p *moatProc) memory() (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("%s: %q: %w", name, rest, err)
		}
		if name == "VmRSS" {
			m.rss = kb << 10
		} else {
			m.peak = kb << 10
		}
	}
	if m.rss == 0 {
		return memory{}, fmt.Errorf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
	}
	return m, sc.Err()
}

// settle polls the resident set until it has moved by less than 1 MiB over
// the last 2 seconds, or until the deadline, and returns the last reading.
// The garbage collector and the scavenger run on their own schedule after a
// flood; this waits for them without a fixed sleep.
func (p *moatProc) settle(t *testing.T, within time.Duration) int64 {
	t.Helper()
	const window = 2 * time.Second
	type reading struct {
		at  time.Time
		rss int64
	}
	var rs []reading
	deadline := time.Now().Add(within)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := p.memory()
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		rs = append(rs, reading{now, m.rss})
		for len(rs) > 1 && now.Sub(rs[1].at) >= window {
			rs = rs[1:]
		}
		if now.Sub(rs[0].at) >= window {
			lo, hi := rs[0].rss, rs[0].rss
			for _, r := range rs {
				lo, hi = min(lo, r.rss), max(hi, r.rss)
			}
			if hi-lo < 1<<20 {
				return m.rss
			}
		}
		if now.After(deadline) {
			t.Logf("resident set still moving after %v", within)
			return m.rss
		}
		<-tick.C
	}
}

// sampler records the largest resident set seen while a flood runs.
type sampler struct {
	peak atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func (p *moatProc) sample() *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if m, err := p.memory(); err == nil && m.rss > s.peak.Load() {
				s.peak.Store(m.rss)
			}
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// Stop ends the sampling and returns the peak.
func (s *sampler) Stop() int64 {
	close(s.stop)
	<-s.done
	return s.peak.Load()
}

// metrics reads the admin listener's /metrics into name{labels} -> value.
func (p *moatProc) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.admin+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	m := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	return m
}

// flood sends n requests made by req, from workers goroutines on
// keep-alive connections, until all are sent or ctx ends. It returns how
// many were answered and how many failed (transport errors and 5xx).
func flood(ctx context.Context, client *http.Client, n, workers int, req func(i int) *http.Request) (sent, failed int64) {
	var next, ok, bad atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				resp, err := client.Do(req(i).WithContext(ctx))
				if err != nil {
					if ctx.Err() == nil {
						bad.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode >= 500 {
					bad.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ok.Load() + bad.Load(), bad.Load()
}
