package redistest_test

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/redistest"
)

// ping sends an inline PING on a fresh connection that must answer within
// timeout, the way a client with a deadline sees a server.
func ping(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return errors.New("PING answered " + strconv.Quote(line))
	}
	return nil
}

func TestStandaloneDo(t *testing.T) {
	t.Parallel()
	s := redistest.Standalone(t, "--maxmemory", "10mb")
	if want := "127.0.0.1:" + strconv.Itoa(s.Port); s.Addr != want {
		t.Errorf("Addr = %q, want %q", s.Addr, want)
	}
	if s.Port == 6379 {
		t.Error("Port is Redis's default 6379; tests must never share it")
	}
	steps := []struct {
		name string
		args []string
		want string
	}{
		{"set", []string{"SET", "greeting", "hello world"}, "OK"},
		{"get", []string{"GET", "greeting"}, "hello world"},
		{"get_missing_is_empty", []string{"GET", "missing"}, ""},
		{"error_reply_is_returned", []string{"INCR", "greeting"}, "ERR value is not an integer or out of range"},
		{"extra_args_applied", []string{"CONFIG", "GET", "maxmemory"}, "maxmemory\n10485760"},
		{"persistence_off_save", []string{"CONFIG", "GET", "save"}, "save"},
		{"persistence_off_aof", []string{"CONFIG", "GET", "appendonly"}, "appendonly\nno"},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if got := s.Do(t, step.args...); got != step.want {
				t.Errorf("Do(%q) = %q, want %q", step.args, got, step.want)
			}
		})
	}
}

func TestKillRestart(t *testing.T) {
	t.Parallel()
	s := redistest.Standalone(t)
	s.Do(t, "SET", "k", "v")

	s.Kill()
	s.Kill() // idempotent
	if err := ping(s.Addr, 200*time.Millisecond); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("PING after Kill: %v, want connection refused", err)
	}

	s.Restart(t)
	if err := ping(s.Addr, time.Second); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if got := s.Do(t, "GET", "k"); got != "" {
		t.Errorf("GET k after Restart = %q, want \"\" (persistence is off)", got)
	}

	s.Restart(t) // kills the running process first
	if err := ping(s.Addr, time.Second); err != nil {
		t.Fatalf("PING after Restart of a running server: %v", err)
	}
}

func TestFreezeThaw(t *testing.T) {
	t.Parallel()
	s := redistest.Standalone(t)

	s.Freeze()
	err := ping(s.Addr, 200*time.Millisecond)
	if netErr, ok := errors.AsType[net.Error](err); !ok || !netErr.Timeout() {
		t.Fatalf("PING to a frozen server: %v, want a timeout", err)
	}

	s.Thaw()
	if err := ping(s.Addr, time.Second); err != nil {
		t.Fatalf("PING after Thaw: %v", err)
	}

	s.Freeze()
	s.Kill() // a frozen process dies too
	if err := ping(s.Addr, 200*time.Millisecond); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("PING after killing a frozen server: %v, want connection refused", err)
	}
}
