package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/proctest"
)

const (
	// logName is the file in a server's Dir that takes its stdout and
	// stderr, across restarts.
	logName = "redis.log"
	// readyTimeout bounds a start, from exec to the first PONG.
	readyTimeout = 10 * time.Second
	// cliTimeout bounds one redis-cli run, so that Do on a frozen server
	// fails the test instead of hanging it.
	cliTimeout = 10 * time.Second
)

// errPortTaken reports that redis-server could not bind the port it was
// given: another process took it after freePort found it free.
var errPortTaken = proctest.ErrPortTaken

// Server is one redis-server process this package started, in standalone,
// sentinel or cluster mode. Its methods are safe for concurrent use. It is
// killed when the test that started it ends.
type Server struct {
	Addr string // "127.0.0.1:port"
	Port int
	Dir  string // its working directory (a t.TempDir), holding redis.log and any files it writes

	args    []string // redis-server's arguments, reused by Restart
	cluster bool     // Do follows cluster redirections (redis-cli -c)

	// mu is held across Kill and Restart, so that the two never interleave
	// and a server is never left with two processes or with one unrecorded.
	mu   sync.Mutex
	proc *proctest.Process // nil once killed
}

// Standalone starts a redis-server with persistence off (--save ""
// --appendonly no), bound to 127.0.0.1 on a free port, with args appended
// (for example "--maxmemory", "10mb"), and returns once it answers PING.
// The server is killed when the test ends.
func Standalone(t testing.TB, args ...string) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	return start(t, dir, false, func(port int) []string {
		return append(baseArgs(port, dir), args...)
	})
}

// baseArgs are the arguments every non-sentinel server starts with.
func baseArgs(port int, dir string) []string {
	return []string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--save", "",
		"--appendonly", "no",
		// A replica's full sync over the socket otherwise waits 5s for
		// more replicas to join it (7.0 default).
		"--repl-diskless-sync-delay", "0",
	}
}

// start runs a new Server in dir on a free port, with the arguments argv
// gives for that port, and registers its cleanup. When another process
// takes the port first it tries another. cluster also requires the cluster
// bus port free and makes Do follow redirections.
func start(t testing.TB, dir string, cluster bool, argv func(port int) []string) *Server {
	t.Helper()
	var s *Server
	proctest.OnFreePort(t, "redistest", func() (int, error) { return freePort(cluster) }, func(port int) error {
		s = &Server{
			Addr:    net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Port:    port,
			Dir:     dir,
			args:    argv(port),
			cluster: cluster,
		}
		return s.spawn()
	})
	t.Cleanup(func() { s.cleanup(t) })
	return s
}

// spawn starts redis-server and waits until it answers as itself. The
// caller holds s.mu or is the only one to know s.
func (s *Server) spawn() error {
	logFile, err := os.OpenFile(filepath.Join(s.Dir, logName), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	// The child gets its own descriptor.
	defer logFile.Close()
	// The log is appended to across attempts and restarts: this run's
	// lines start here.
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	fmt.Fprintf(logFile, "### redistest: redis-server %q\n", s.args)

	cmd := exec.Command("redis-server", s.args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := proctest.Start(cmd)
	if err != nil {
		return fmt.Errorf("redistest: starting redis-server: %w", err)
	}

	if err := s.waitReady(p, logStart); err != nil {
		p.Kill()
		return fmt.Errorf("redistest: redis-server %q on %s: %w\n%s", s.args, s.Addr, err, s.logTail())
	}
	s.proc = p
	return nil
}

// waitReady polls until the server answers PING and INFO says it is p:
// whoever else took the port would answer too. p's output starts at
// logStart in the log.
func (s *Server) waitReady(p *proctest.Process, logStart int64) error {
	pid := strconv.Itoa(p.Pid())
	err := waitFor(p.Done(), readyTimeout, func() error {
		if pong, err := callString(s.Addr, "PING"); err != nil {
			return err
		} else if pong != "PONG" {
			return fmt.Errorf("PING answered %q", pong)
		}
		info, err := callString(s.Addr, "INFO", "server")
		if err != nil {
			return err
		}
		if got := infoField(info, "process_id"); got != pid {
			return fmt.Errorf("%w: process %s answers, not redis-server %s", errPortTaken, got, pid)
		}
		return nil
	})
	if errors.Is(err, errExited) {
		logged, _ := os.ReadFile(filepath.Join(s.Dir, logName))
		if int64(len(logged)) >= logStart && bytes.Contains(logged[logStart:], []byte("Address already in use")) {
			return fmt.Errorf("%w: %s", errPortTaken, p.State())
		}
		return fmt.Errorf("%w: %s", err, p.State())
	}
	return err
}

// cleanup kills the server at the end of its test, and logs its log's
// tail if the test failed.
func (s *Server) cleanup(t testing.TB) {
	s.Kill()
	if t.Failed() {
		t.Logf("redistest: log of redis-server on %s (%s), last lines:\n%s", s.Addr, s.Dir, s.logTail())
	}
}

// logTail returns the last 2 KiB of the server's log, from a line start.
func (s *Server) logTail() string {
	data, err := os.ReadFile(filepath.Join(s.Dir, logName))
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const tailSize = 2 << 10
	if len(data) > tailSize {
		data = data[len(data)-tailSize:]
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			data = data[i+1:]
		}
	}
	return string(data)
}

// Kill sends SIGKILL to the server and waits until it has exited; it
// works on a frozen server too. Killing a server that is not running does
// nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.proc != nil {
		s.proc.Kill()
		s.proc = nil
	}
}

// Freeze stops the server with SIGSTOP: it keeps its port, and the kernel
// still accepts connections to it, but it answers nothing until Thaw.
// Freezing a server that is not running does nothing.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server with SIGCONT.
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig os.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		s.proc.Signal(sig)
	}
}

// Restart kills the server if it is still running, starts it again with
// the same port, dir and arguments, and waits until it answers PING. Its
// data is gone unless its arguments turned persistence on; a cluster node
// keeps its nodes.conf and so its identity and slots, and a sentinel its
// rewritten sentinel.conf. It fails the test if the port has been taken
// meanwhile.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
	if err := s.spawn(); err != nil {
		t.Fatal(err)
	}
}

// Do runs one command with redis-cli against the server (with -c, following
// redirections, on a cluster node) and returns its output, trimmed.
// redis-cli writes without a terminal: a bulk string as is, an array one
// element a line, nil as "", and an error reply as its message ("ERR
// ..."), which is returned, not fatal. Do fails the test when redis-cli
// cannot run or connect, or takes over 10s (a frozen server).
func (s *Server) Do(t testing.TB, args ...string) string {
	t.Helper()
	cli := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}
	if s.cluster {
		cli = append(cli, "-c")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append(cli, args...)...).Output()
	if err != nil {
		var stderr []byte
		if exit, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr = exit.Stderr
		}
		t.Fatalf("redistest: redis-cli %s %q: %v\n%s%s", strings.Join(cli, " "), args, err, out, stderr)
	}
	return strings.TrimSpace(string(out))
}

// running reports whether the server has a process (it may be frozen).
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Launch starts a standalone redis-server in dir as Standalone does, for
// code that has no testing.TB (a TestMain serving a package's examples).
// The caller must Kill it.
func Launch(dir string) (*Server, error) {
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort(false)
		if err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, Dir: dir, args: baseArgs(port, dir)}
		if last = s.spawn(); last == nil {
			return s, nil
		}
	}
	return nil, last
}
