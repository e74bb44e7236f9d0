//go:build !linux

package memcachedtest

import "syscall"

// sysProcAttr is nil where there is no parent-death signal: a test binary
// killed before its cleanups run leaves its servers running.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// stopped cannot tell where there is no /proc: Freeze then returns at once.
func stopped(int) bool { return true }
