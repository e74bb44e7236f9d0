package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// proc is one server the runner started. It runs in its own process group
// (its PID is the group ID), so stopping it also stops the workers it
// forked (nginx workers and cache manager, the Varnish child).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// procs tracks every process the runner started so that all of them can be
// stopped on exit, on error or on a signal.
type procs struct {
	mu   sync.Mutex
	list []*proc
}

// start runs argv pinned to cpus, a taskset -c list (taskset execs the
// command, so the PID is the server's own), or on every core if cpus is "",
// with stdout and stderr in logPath.
func (ps *procs) start(name, cpus, logPath string, argv ...string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := pinned(cpus, argv...)
	cmd.Stdout, cmd.Stderr = f, f
	// Setpgid: one group per server, killed as a whole. Pdeathsig: if the
	// runner dies without cleaning up, the kernel kills the server.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	ps.mu.Lock()
	ps.list = append(ps.list, p)
	ps.mu.Unlock()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process, then SIGKILL to whatever of its group
// is left after a grace period.
func (ps *procs) stop(p *proc) {
	pgid := p.cmd.Process.Pid
	// The leader first: nginx's master and Varnish's manager stop their
	// workers themselves.
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
	}
	// Workers may outlive their master for a moment; make sure the whole
	// group is gone.
	for i := 0; i < 50 && syscall.Kill(-pgid, 0) == nil; i++ {
		switch i {
		case 0:
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
		case 20:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.done
	ps.mu.Lock()
	for i, q := range ps.list {
		if q == p {
			ps.list = append(ps.list[:i], ps.list[i+1:]...)
			break
		}
	}
	ps.mu.Unlock()
}

// stopAll stops every process still running, most recent first.
func (ps *procs) stopAll() {
	for {
		ps.mu.Lock()
		n := len(ps.list)
		var p *proc
		if n > 0 {
			p = ps.list[n-1]
		}
		ps.mu.Unlock()
		if p == nil {
			return
		}
		ps.stop(p)
	}
}

// pinned is argv run on cpus (a taskset -c list), or as it is if cpus is "".
func pinned(cpus string, argv ...string) *exec.Cmd {
	if cpus == "" {
		return exec.Command(argv[0], argv[1:]...)
	}
	return exec.Command("taskset", append([]string{"-c", cpus}, argv...)...)
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the CPU time (user + system) used so far by the live
// processes of p's group: nginx's master, worker and cache manager,
// Varnish's manager and child, or the one Go process.
func (p *proc) cpuTime() time.Duration {
	if p == nil {
		return 0
	}
	pgid := p.cmd.Process.Pid
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if g, t, ok := parseStat(b); ok && g == pgid {
			ticks += t
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// parseStat returns the process group and utime+stime (in clock ticks) of
// a /proc/PID/stat line.
func parseStat(b []byte) (pgrp int, ticks int64, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	// After "pid (comm)": state ppid pgrp session tty_nr tpgid flags
	// minflt cminflt majflt cmajflt utime stime ...
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, 0, false
	}
	pgrp, err1 := strconv.Atoi(string(f[2]))
	utime, err2 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err3 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return pgrp, utime + stime, true
}

// allCores is coreBusy's argument for the whole machine.
const allCores = -1

// coreBusy returns the user, nice and system time the kernel has counted on
// cpu, or on every core for allCores (from /proc/stat), in clock ticks:
// every process's time there.
func coreBusy(cpu int) int64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	return parseCoreBusy(b, cpu)
}

func parseCoreBusy(stat []byte, cpu int) int64 {
	prefix := []byte("cpu ")
	if cpu != allCores {
		prefix = []byte("cpu" + strconv.Itoa(cpu) + " ")
	}
	for _, line := range bytes.Split(stat, []byte("\n")) {
		if !bytes.HasPrefix(line, prefix) {
			continue
		}
		f := bytes.Fields(line[len(prefix):])
		var busy int64
		for _, x := range f[:min(3, len(f))] { // user nice system
			n, _ := strconv.ParseInt(string(x), 10, 64)
			busy += n
		}
		return busy
	}
	return 0
}
