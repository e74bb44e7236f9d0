package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/redistest"
)

// topFigures are the lines of a frame the tests read, as regexps over the
// whole frame (since-start column last).
var topFigures = []string{
	`(?m)^\s*requests\s+\S+\s+5\s*$`,
	`(?m)^\s*hit ratio\s+\S+\s+40\.0%\s*$`,
	`(?m)^\s*origin offload\s+\S+\s+40\.0%\s*$`,
	`(?m)^\s*origin requests\s+\S+\s+3\s*$`,
	`(?m)^\s*hits / misses\s+.*\s2 / 2\s*$`,
	`(?m)^\s*GET /api/products/\{id\}\s+.*\s50\.0%\s+50\.0%\s+(-|\d+\.\d\d / \d+\.\d\d ms)\s+\d+\.\d\d / \d+\.\d\d\s+4\s*$`,
	`(?m)^\s*GET /api/cart\s+.*\s1\s*$`,
	`(?m)^/api/products/1\s+\d+\.\d\s+yes\s+\d+s\s+\d+s\s`,
	`(?m)^fleet\s+none`,
}

func matchAll(frame string, res []string) (missing []string) {
	for _, re := range res {
		if !regexp.MustCompile(re).MatchString(frame) {
			missing = append(missing, re)
		}
	}
	return missing
}

// TestTopOnce runs `moat top --once` in this process against a real moat.
func TestTopOnce(t *testing.T) {
	m := startMoat(t)
	m.sendTraffic(t)
	code, out, errs := runCLI(t, "top", "--once", "--interval", "50ms", "--admin", m.admin, "--token", adminTestToken)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if missing := matchAll(out, topFigures); len(missing) > 0 {
		t.Errorf("frame lacks %q:\n%s", missing, out)
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("--once frame has terminal control codes: %q", out)
	}
}

// TestTopRates samples a real moat before and after known traffic: the
// interval column holds the rates and ratios of that traffic alone.
func TestTopRates(t *testing.T) {
	m := startMoat(t)
	m.get(t, "/api/products/1") // a miss before the first sample
	c, err := (&adminFlags{base: m.admin, token: adminTestToken}).client()
	if err != nil {
		t.Fatal(err)
	}
	top := &top{client: c, interval: time.Second, keys: 5, routes: 5}
	ctx := context.Background()
	prev, err := top.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// In the interval: 3 hits and a miss on products, a bypass on the cart.
	for _, p := range []string{"/api/products/1", "/api/products/1", "/api/products/1", "/api/products/9", "/api/cart"} {
		m.get(t, p)
	}
	cur, err := top.sample(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Pretend the samples were exactly 2s apart so that the rates are exact.
	prev.at = cur.at.Add(-2 * time.Second)
	frame := top.frame(&prev, &cur, nil)
	want := []string{
		`(?m)^\s+last 2\.0s\s+since start\s*$`,
		`(?m)^\s*requests\s+2\.5/s\s+6\s*$`,            // 5 in 2s; 6 since start
		`(?m)^\s*hit ratio\s+60\.0%\s+50\.0%\s*$`,      // 3 of 5; 3 of 6
		`(?m)^\s*origin offload\s+60\.0%\s+50\.0%\s*$`, // 2 of 5 reached the origin; 3 of 6
		`(?m)^\s*origin requests\s+1\.0/s\s+3\s*$`,
		`(?m)^\s*GET /api/products/\{id\}\s+2\.0/s\s+75\.0%\s+75\.0%\s+60\.0%\s+60\.0%\s`,
		`(?m)^\s*GET /api/cart\s+0\.5/s\s+0\.0%\s+0\.0%\s`,
		// Percentiles of the interval's 5 requests, and of all 6.
		`(?m)^\s*latency p50 / p99\s+\d+\.\d\d / \d+\.\d\d ms\s+\d+\.\d\d / \d+\.\d\d ms\s*$`,
		`(?m)^\s*GET /api/products/\{id\}\s.*\s\d+\.\d\d / \d+\.\d\d ms\s+\d+\.\d\d / \d+\.\d\d\s+5\s*$`,
	}
	if missing := matchAll(frame, want); len(missing) > 0 {
		t.Errorf("frame lacks %q:\n%s", missing, frame)
	}
}

const tmuxMissing = "tmux is not installed: `make test` installs it (scripts/deps.sh), or run apt-get install tmux"

// tmuxSession runs command in a detached 160x50 tmux session on a server
// of its own, killed at the end of the test.
type tmuxSession struct {
	t            *testing.T
	socket, name string
}

func newTmuxSession(t *testing.T, command string) *tmuxSession {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal(tmuxMissing)
	}
	s := &tmuxSession{t: t, socket: fmt.Sprintf("moat-test-%d-%d", os.Getpid(), time.Now().UnixNano()), name: "top"}
	t.Cleanup(func() { _ = exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	if out, err := s.tmux("new-session", "-d", "-x", "160", "-y", "50", "-s", s.name, command); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	return s
}

func (s *tmuxSession) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// waitFrame polls the pane until every regexp matches, and returns it.
func (s *tmuxSession) waitFrame(res []string, errFile string) string {
	s.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var pane string
	var missing []string
	for time.Now().Before(deadline) {
		out, err := s.tmux("capture-pane", "-p", "-t", s.name)
		if err != nil {
			stderr, _ := os.ReadFile(errFile)
			s.t.Fatalf("tmux capture-pane: %v: %s (moat top stderr: %s)", err, out, stderr)
		}
		pane = out
		if missing = matchAll(pane, res); len(missing) == 0 {
			return pane
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("after 15s the pane still lacks %q:\n%s", missing, pane)
	return ""
}

// waitGone polls until the session has ended.
func (s *tmuxSession) waitGone() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := s.tmux("has-session", "-t", s.name); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	pane, _ := s.tmux("capture-pane", "-p", "-t", s.name)
	s.t.Fatalf("the tmux session is still running 10s after quitting:\n%s", pane)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestTopInTmux runs the real binary's live view in a terminal (tmux):
// the frame redraws in place with the figures of the traffic sent, and q
// (then Enter) or Ctrl-C ends it with status 0.
func TestTopInTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal(tmuxMissing)
	}
	bin := moatBinary(t)
	for _, quit := range [][]string{{"q", "Enter"}, {"C-c"}} {
		t.Run("quit_with_"+strings.Join(quit, "_"), func(t *testing.T) {
			m := startMoat(t)
			dir := t.TempDir()
			errFile, rcFile := filepath.Join(dir, "stderr"), filepath.Join(dir, "rc")
			command := fmt.Sprintf("%s top --admin %s --token %s --interval 200ms 2>%s; echo $? >%s",
				shellQuote(bin), shellQuote(m.admin), shellQuote(adminTestToken), shellQuote(errFile), shellQuote(rcFile))
			s := newTmuxSession(t, command)
			s.waitFrame([]string{`(?m)^\s*requests\s+\S+\s+0\s*$`, `\(no traffic yet\)`}, errFile)

			m.sendTraffic(t)
			pane := s.waitFrame(append([]string{`(?m)^\s*requests\s+\d+\.\d/s\s+5\s*$`}, topFigures...), errFile)
			if n := strings.Count(pane, "moat top  "); n != 1 {
				t.Errorf("%d headers on the screen, want 1 (each frame drawn over the last):\n%s", n, pane)
			}
			if strings.Contains(pane, "(no traffic yet)") {
				t.Errorf("a line of an earlier frame is left on the screen:\n%s", pane)
			}

			if out, err := s.tmux(append([]string{"send-keys", "-t", s.name}, quit...)...); err != nil {
				t.Fatalf("tmux send-keys: %v: %s", err, out)
			}
			s.waitGone()
			rc, err := os.ReadFile(rcFile)
			if err != nil || strings.TrimSpace(string(rc)) != "0" {
				stderr, _ := os.ReadFile(errFile)
				t.Errorf("moat top exit status %q (%v), want 0; stderr: %s", rc, err, stderr)
			}
		})
	}
}

// TestTopFleetLine: with cache.redis (a real redis-server), the frame has
// the fleet line: Redis connected, the L2 counters, the bus and the nodes.
func TestTopFleetLine(t *testing.T) {
	rs := redistest.Standalone(t)
	m := startMoat(t, fmt.Sprintf("cache:\n  redis: {addrs: [%q], timeout: 200ms, key_prefix: \"toptest:\"}\n", rs.Addr))
	c, err := (&adminFlags{base: m.admin, token: adminTestToken}).client()
	if err != nil {
		t.Fatal(err)
	}
	// Redis connects in the background, and L2 writes are queued: wait for
	// both, polling the stats, before sending and then reading the frame.
	waitStats := func(what string, ok func(*adminStats) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			var s adminStats
			err := c.getJSON(context.Background(), "/api/stats", nil, &s)
			if err == nil && ok(&s) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s, still not %s (%v): %+v", what, err, s.Fleet)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitStats("connected to Redis", func(s *adminStats) bool { return s.Fleet != nil && s.Fleet.RedisConnected })
	m.sendTraffic(t)
	waitStats("2 entries written to L2", func(s *adminStats) bool { return s.Fleet.L2 != nil && s.Fleet.L2.Written >= 2 })
	code, out, errs := runCLI(t, "top", "--once", "--interval", "50ms", "--admin", m.admin, "--token", adminTestToken)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := `(?m)^fleet\s+redis connected; L2 hits \d+ \(\d+\.\d/s\) misses \d+ errors 0 written [2-9]\d* dropped 0 breaker closed; bus delivered \d+ \(\d+\.\d/s\) published \d+ gaps 0 lost 0 errors 0.*; nodes heard 1$`
	if missing := matchAll(out, append([]string{want}, topFigures[:len(topFigures)-1]...)); len(missing) > 0 { // all but "fleet none"
		t.Errorf("frame lacks %q:\n%s", missing, out)
	}
}
