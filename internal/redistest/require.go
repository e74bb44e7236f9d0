package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// Require skips the test when redis-server or redis-cli is not on PATH,
// with a message saying how to install them. When $CI is true it fails the
// test instead: a Redis test that CI skips proves nothing. Every
// constructor of this package calls it; call it directly to skip before
// any other setup.
func Require(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			msg := fmt.Sprintf("redistest: %s not found (%v): apt-get install redis-server redis-tools", bin, err)
			if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}
