package memcachedtest_test

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/memcachel2/memcachedtest"
)

// roundTrip sets and gets one key over the text protocol, with a deadline.
func roundTrip(addr, key string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("set " + key + " 0 0 1\r\nv\r\nget " + key + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return strings.Join(lines, ""), err
		}
		lines = append(lines, line)
		if line == "END\r\n" {
			return strings.Join(lines, ""), nil
		}
	}
}

func TestServerLifecycle(t *testing.T) {
	s := memcachedtest.Start(t)
	const want = "STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n"
	if got, err := roundTrip(s.Addr(), "k"); err != nil || got != want {
		t.Fatalf("round trip = %q, %v; want %q", got, err, want)
	}

	t.Run("kill", func(t *testing.T) {
		s.Kill()
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			t.Fatal("a killed server still accepts connections")
		}
		s.Kill() // idempotent
	})
	t.Run("restart_same_port", func(t *testing.T) {
		s.Restart(t)
		if got, err := roundTrip(s.Addr(), "k"); err != nil || got != want {
			t.Fatalf("round trip after Restart = %q, %v; want %q", got, err, want)
		}
	})
	t.Run("freeze_and_thaw", func(t *testing.T) {
		s.Freeze()
		if _, err := roundTrip(s.Addr(), "f"); err == nil {
			t.Fatal("a frozen server answered")
		}
		s.Thaw()
		if _, err := roundTrip(s.Addr(), "f"); err != nil {
			t.Fatalf("round trip after Thaw: %v", err)
		}
	})
}

// fatalTB records the first Fatal and ends the goroutine, as testing does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestRequireFailsWithoutMemcached(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f := &fatalTB{TB: t}
	var wg sync.WaitGroup
	wg.Go(func() { memcachedtest.Require(f) })
	wg.Wait()
	const want = "memcached not found: make test installs it (apt-get install memcached)"
	if f.msg != want {
		t.Errorf("Require without memcached: Fatal(%q), want Fatal(%q)", f.msg, want)
	}
}
