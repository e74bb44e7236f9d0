package memcachedtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// sysProcAttr makes the kernel kill memcached when the test binary dies
// without running its cleanups (a -timeout panic, a SIGKILL), so that no
// server outlives the tests that own it.
//
// WARNING: Linux sends the signal when the thread that started the child
// exits, not the process. Go ends a thread only when a goroutine locked to
// it (runtime.LockOSThread) returns without unlocking; a test that does so
// while its servers start could see them killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// stopped reports whether every thread of process pid is stopped (state
// T in /proc), as they are some time after SIGSTOP: the signal is
// delivered asynchronously, and a thread still running answers requests.
func stopped(pid int) bool {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(task)
		if err != nil {
			return false
		}
		// "pid (comm) state ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
			return false
		}
	}
	return true
}
