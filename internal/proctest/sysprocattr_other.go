//go:build !linux

package proctest

import "syscall"

// sysProcAttr is nil where there is no parent-death signal: a test binary
// killed before its cleanups run leaves its servers running.
func sysProcAttr() *syscall.SysProcAttr { return nil }
