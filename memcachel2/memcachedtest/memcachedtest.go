// Package memcachedtest starts real memcached processes for tests.
//
// Every server belongs to the test that started it: it listens on a free
// loopback port (never 11211, so a test cannot reach a developer's own
// server), with UDP off and 64 MiB of memory, and is killed by PID when the
// test ends. Tests kill, freeze and restart servers to provoke the failures
// a client must survive; no other memcached on the machine is touched.
//
// The binary comes from PATH (Debian: apt-get install memcached). Without
// it Start fails the test, it does not skip: a memcached test that skips
// proves nothing, and make test installs it.
//
// A server is ready when it answers "stats" on its port with its own PID: a
// port picked free can be taken by another process before memcached binds
// it, and then the start is retried on another port. Readiness is polled
// with a deadline, never slept for.
package memcachedtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/proctest"
)

// notFound is the failure when memcached is not on PATH.
const notFound = "memcached not found: make test installs it (apt-get install memcached)"

const (
	// readyTimeout bounds a start, from exec to the first answer.
	readyTimeout = 10 * time.Second
	// pollInterval is how often a start checks for an answer.
	pollInterval = 10 * time.Millisecond
)

// errPortTaken reports that memcached could not bind the port it was
// given: another process took it after freePort found it free.
var errPortTaken = proctest.ErrPortTaken

// Server is one memcached process this package started. Its methods are
// safe for concurrent use. It is killed when the test that started it ends.
type Server struct {
	addr string   // "127.0.0.1:port"
	args []string // memcached's arguments, reused by Restart

	// mu is held across Kill and Restart, so that the two never interleave
	// and a server is never left with two processes or one unrecorded.
	mu   sync.Mutex
	proc *proctest.Process // nil once killed
	out  logBuffer
}

// Require fails the test, with a message that says how to install it, when
// memcached is not on PATH. Start calls it.
func Require(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Fatal(notFound)
	}
}

// Start starts memcached on 127.0.0.1 and a free port, with args appended
// (for example "-I", "2m" for larger items), and returns once it answers.
// The server is killed when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	Require(t)
	var s *Server
	proctest.OnFreePort(t, "memcachedtest", freePort, func(port int) error {
		s = &Server{
			addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			args: append(baseArgs(port), args...),
		}
		return s.spawn()
	})
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("memcachedtest: output of memcached on %s:\n%s", s.addr, s.out.String())
		}
	})
	return s
}

// baseArgs are the arguments every server starts with. memcached refuses
// to run as root unless told which user to be.
func baseArgs(port int) []string {
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "root")
	}
	return args
}

// Addr is the server's "127.0.0.1:port".
func (s *Server) Addr() string { return s.addr }

// spawn starts memcached and waits until it answers as itself. The caller
// holds s.mu or is the only one to know s.
func (s *Server) spawn() error {
	mark := s.out.Len()
	cmd := exec.Command("memcached", s.args...)
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	p, err := proctest.Start(cmd)
	if err != nil {
		return fmt.Errorf("memcachedtest: starting memcached: %w", err)
	}
	if err := s.waitReady(p, mark); err != nil {
		p.Kill()
		return fmt.Errorf("memcachedtest: memcached %q: %w\n%s", s.args, err, s.out.String())
	}
	s.proc = p
	return nil
}

// waitReady polls until the server answers "stats" with p's PID: whoever
// else took the port would answer too. p's output starts at mark.
func (s *Server) waitReady(p *proctest.Process, mark int) error {
	want := strconv.Itoa(p.Pid())
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		pid, err := s.pid()
		switch {
		case err == nil && pid == want:
			return nil
		case err == nil:
			err = fmt.Errorf("%w: process %s answers, not memcached %s", errPortTaken, pid, want)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", readyTimeout, err)
		}
		select {
		case <-p.Done():
			if strings.Contains(s.out.From(mark), "Address already in use") {
				return fmt.Errorf("%w: %s", errPortTaken, p.State())
			}
			return fmt.Errorf("memcached exited: %s", p.State())
		case <-tick.C:
		}
	}
}

// pid asks the server for its PID ("stats").
func (s *Server) pid() (string, error) {
	c, err := net.DialTimeout("tcp", s.addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		return "", err
	}
	pid := ""
	for r := bufio.NewScanner(c); r.Scan(); {
		line := r.Text()
		if line == "END" {
			return pid, nil
		}
		if v, ok := strings.CutPrefix(line, "STAT pid "); ok {
			pid = v
		}
	}
	return "", errors.New("stats: no END")
}

// Kill sends SIGKILL to the server and waits until it has exited; it works
// on a frozen server too. Killing a server that is not running does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

// Restart kills the server if it is still running, starts it again on the
// same port with the same arguments, and waits until it answers. It comes
// back empty. It fails t if the port has been taken meanwhile.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
	if err := s.spawn(); err != nil {
		t.Fatal(err)
	}
}

// Freeze stops the server with SIGSTOP, and returns once all its threads
// have stopped (on Linux): it keeps its port, and the kernel still accepts
// connections to it, but it answers nothing until Thaw (a hung server).
// Freezing a server that is not running does nothing.
func (s *Server) Freeze() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Signal(syscall.SIGSTOP)
	pid := s.proc.Pid()
	for deadline := time.Now().Add(readyTimeout); !stopped(pid) && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
}

// Thaw resumes a frozen server with SIGCONT.
func (s *Server) Thaw() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Signal(syscall.SIGCONT)
	}
}

// freePort returns a loopback port that was free a moment ago, never
// memcached's default (see proctest.FreePort).
func freePort() (int, error) { return proctest.FreePort(0, 11211) }

// logBuffer collects a server's output across restarts.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *logBuffer) String() string { return l.From(0) }

// From returns the output from byte mark on.
func (l *logBuffer) From(mark int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b.Bytes()[mark:])
}
