package proctest

import "syscall"

// sysProcAttr makes the kernel kill the server when the test binary dies
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
