package redistest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Sentinel setup StartSentinel builds. Timeouts are short so that a
// failover takes seconds, not the default minutes.
const (
	sentinelMasterName = "mymaster"
	sentinelCount      = 3
	sentinelQuorum     = 2
	downAfterMillis    = 1000
	failoverMillis     = 3000
	// sentinelTimeout bounds discovery at start and a wait for a master.
	// A failover whose election splits is retried only after twice the
	// failover timeout, so allow for a few.
	sentinelTimeout = 30 * time.Second
)

// Sentinel is a monitored master with one replica and three sentinels
// (quorum 2, down-after-milliseconds 1000, failover-timeout 3000), all on
// loopback. Master and Replica are the initial roles: after a failover the
// sentinels know better (WaitMaster).
type Sentinel struct {
	MasterName string // "mymaster"
	Master     *Server
	Replica    *Server
	Sentinels  []*Server // redis-server --sentinel; Do sends SENTINEL commands
	Addrs      []string  // the sentinels' addresses, as a client is configured with
}

// StartSentinel starts a master, a replica of it and three sentinels
// monitoring it, and returns once the replica is in sync and every
// sentinel knows the replica and the two other sentinels, so that a
// failover can start as soon as the master fails. It takes about two
// seconds, the sentinels' hello period. Everything is killed when the test
// ends.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	Require(t)
	master := Standalone(t)
	replica := Standalone(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port))
	s := &Sentinel{MasterName: sentinelMasterName, Master: master, Replica: replica}
	err := waitFor(nil, sentinelTimeout, func() error {
		info, err := callString(replica.Addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if got := infoField(info, "master_link_status"); got != "up" {
			return fmt.Errorf("replica %s: master_link_status:%s, want up", replica.Addr, got)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: replica never synced: %v", err)
	}
	for range sentinelCount {
		sentinel := startSentinelProcess(t, master.Port)
		s.Sentinels = append(s.Sentinels, sentinel)
		s.Addrs = append(s.Addrs, sentinel.Addr)
	}
	if err := waitFor(nil, sentinelTimeout, s.discovered); err != nil {
		t.Fatalf("redistest: sentinels never found each other and the replica: %v", err)
	}
	return s
}

// startSentinelProcess starts one sentinel monitoring the master on
// masterPort. Its config file is in its own dir: a sentinel rewrites it
// with what it learns, and refuses to start if it cannot.
func startSentinelProcess(t testing.TB, masterPort int) *Server {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	return start(t, dir, false, func(port int) []string {
		text := fmt.Sprintf(`port %d
bind 127.0.0.1
dir %q
sentinel monitor %s 127.0.0.1 %d %d
sentinel down-after-milliseconds %[3]s %[6]d
sentinel failover-timeout %[3]s %[7]d
`, port, dir, sentinelMasterName, masterPort, sentinelQuorum, downAfterMillis, failoverMillis)
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{conf, "--sentinel"}
	})
}

// discovered checks that every sentinel sees the replica connected and
// the other sentinels. Sentinels learn of replicas from the master's INFO
// and of each other from hello messages published every 2s.
func (s *Sentinel) discovered() error {
	for _, sentinel := range s.Sentinels {
		reply, err := call(sentinel.Addr, "SENTINEL", "MASTER", s.MasterName)
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", sentinel.Addr, err)
		}
		master := fieldMap(reply)
		if got, want := master["num-other-sentinels"], strconv.Itoa(len(s.Sentinels)-1); got != want {
			return fmt.Errorf("sentinel %s knows %s other sentinels, want %s", sentinel.Addr, got, want)
		}
		reply, err = call(sentinel.Addr, "SENTINEL", "REPLICAS", s.MasterName)
		if err != nil {
			return fmt.Errorf("sentinel %s: %w", sentinel.Addr, err)
		}
		replicas, _ := reply.([]any)
		if len(replicas) != 1 {
			return fmt.Errorf("sentinel %s knows %d replicas, want 1", sentinel.Addr, len(replicas))
		}
		if replica := fieldMap(replicas[0]); replica["flags"] != "slave" {
			return fmt.Errorf("sentinel %s sees replica %s:%s with flags %s, want slave",
				sentinel.Addr, replica["ip"], replica["port"], replica["flags"])
		}
	}
	return nil
}

// WaitMaster polls the sentinels (SENTINEL get-master-addr-by-name) until
// a majority of them report addr ("127.0.0.1:port") as the master, and
// fails the test if they have not after 30s. A killed or frozen sentinel
// counts against the majority.
func (s *Sentinel) WaitMaster(t testing.TB, addr string) {
	t.Helper()
	need := len(s.Sentinels)/2 + 1
	err := waitFor(nil, sentinelTimeout, func() error {
		agree := 0
		var seen []string
		for _, sentinel := range s.Sentinels {
			got, err := s.masterAddr(sentinel)
			if err != nil {
				seen = append(seen, fmt.Sprintf("%s: %v", sentinel.Addr, err))
				continue
			}
			seen = append(seen, fmt.Sprintf("%s says %s", sentinel.Addr, got))
			if got == addr {
				agree++
			}
		}
		if agree < need {
			return fmt.Errorf("%d sentinels report master %s, want %d (%s)", agree, addr, need, strings.Join(seen, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
}

// masterAddr asks one sentinel where the master is.
func (s *Sentinel) masterAddr(sentinel *Server) (string, error) {
	reply, err := call(sentinel.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", err
	}
	hostPort, _ := reply.([]any)
	if len(hostPort) != 2 {
		return "", errors.New("no master known")
	}
	return fmt.Sprintf("%s:%s", hostPort[0], hostPort[1]), nil
}
