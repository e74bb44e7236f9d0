package redistest_test

import (
	"strings"
	"testing"

	"github.com/moatproxy/moat/internal/redistest"
)

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	if len(s.Sentinels) != 3 || len(s.Addrs) != 3 {
		t.Fatalf("got %d sentinels and %d addrs, want 3 and 3", len(s.Sentinels), len(s.Addrs))
	}
	s.WaitMaster(t, s.Master.Addr)
	if got := s.Sentinels[0].Do(t, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName); got != strings.ReplaceAll(s.Master.Addr, ":", "\n") {
		t.Errorf("SENTINEL GET-MASTER-ADDR-BY-NAME = %q, want the master %s", got, s.Master.Addr)
	}
	if role := s.Replica.Do(t, "ROLE"); !strings.HasPrefix(role, "slave\n") {
		t.Errorf("replica ROLE = %q, want slave", role)
	}

	s.Master.Kill()
	s.WaitMaster(t, s.Replica.Addr)
	if role := s.Replica.Do(t, "ROLE"); !strings.HasPrefix(role, "master\n") {
		t.Errorf("promoted replica ROLE = %q, want master", role)
	}
	if got := s.Replica.Do(t, "SET", "k", "v"); got != "OK" {
		t.Errorf("SET on the promoted replica = %q, want OK", got)
	}
}
