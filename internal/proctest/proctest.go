// Package proctest supervises the server processes that tests start
// (redis-server, memcached): each is started with a parent-death signal
// where the system has one, so that none outlives a test binary killed
// before its cleanups run; each is reaped by a goroutine of its own; Kill
// returns once it has exited.
package proctest

import (
	"os"
	"os/exec"
)

// Process is one run of a server.
type Process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait has returned
}

// Start starts cmd (its SysProcAttr is set here) and reaps it when it ends.
func Start(cmd *exec.Cmd) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // how it ended is in its output
		close(p.done)
	}()
	return p, nil
}

// Pid is the process's ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// State is how the process ended; valid once Done is closed.
func (p *Process) State() *os.ProcessState { return p.cmd.ProcessState }

// Signal sends sig; it fails only if the process has exited, and is then
// ignored.
func (p *Process) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Kill sends SIGKILL and waits until the process has exited (a frozen one
// too). os.Process signals through a pidfd where Linux has one, so a PID
// reused after the process was reaped is never hit.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}
