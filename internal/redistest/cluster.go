package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// clusterNodeTimeout is cluster-node-timeout in milliseconds: how long
	// a node may be silent before the others mark it failing.
	clusterNodeTimeout = 1000
	// clusterTimeout bounds cluster creation and a wait for a state.
	clusterTimeout = 30 * time.Second
	// clusterSlots is the number of hash slots in every Redis Cluster.
	clusterSlots = 16384
)

// Cluster is a Redis Cluster of masters without replicas, on loopback,
// with cluster-node-timeout 1000.
type Cluster struct {
	Masters []*Server // each in its own Dir; Do follows redirections
	Addrs   []string  // the masters' addresses, as a client is configured with
}

// StartCluster starts masters redis-servers in cluster mode (at least 3:
// redis-cli --cluster create refuses fewer), shares the 16384 slots among
// them with redis-cli --cluster create, and returns once every node
// reports the cluster ok. That takes about 3s: redis-cli waits a second
// before it first checks that the nodes agree, and a master does not turn
// ok in its first 2s. fullCoverage sets cluster-require-full-coverage:
// when true the whole cluster refuses commands while any slot's master is
// down; when false the other masters keep serving their slots. Every node
// is killed when the test ends.
func StartCluster(t testing.TB, masters int, fullCoverage bool) *Cluster {
	t.Helper()
	Require(t)
	if masters < 3 {
		t.Fatalf("redistest: StartCluster(%d): a cluster needs at least 3 masters", masters)
	}
	coverage := "no"
	if fullCoverage {
		coverage = "yes"
	}
	c := &Cluster{}
	for range masters {
		dir := t.TempDir()
		node := start(t, dir, true, func(port int) []string {
			return append(baseArgs(port, dir),
				"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf", // in dir, kept across Restart
				"--cluster-node-timeout", strconv.Itoa(clusterNodeTimeout),
				"--cluster-require-full-coverage", coverage,
			)
		})
		c.Masters = append(c.Masters, node)
		c.Addrs = append(c.Addrs, node.Addr)
	}

	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %q: %v\n%s", args, err, out)
	}
	c.WaitState(t, "ok")
	return c
}

// WaitState polls CLUSTER INFO on every master that is running (not
// killed) until each reports cluster_state:state ("ok" or "fail"), and
// fails the test if they have not after 30s. For "ok" each must also see
// all 16384 slots assigned and all the masters. A frozen master never
// answers: thaw it or kill it first.
//
// After Kill, the others mark a master failing once it has been silent for
// the node timeout and a majority agree; with full coverage the cluster
// then turns fail. After Restart, a master is ok again only after it has
// been up for 2s (Redis's writable delay) and the others have cleared its
// failure, about twice the node timeout.
func (c *Cluster) WaitState(t testing.TB, state string) {
	t.Helper()
	err := waitFor(nil, clusterTimeout, func() error {
		for _, node := range c.Masters {
			if !node.running() {
				continue
			}
			info, err := callString(node.Addr, "CLUSTER", "INFO")
			if err != nil {
				return fmt.Errorf("node %s: %w", node.Addr, err)
			}
			if got := infoField(info, "cluster_state"); got != state {
				return fmt.Errorf("node %s: cluster_state:%s, want %s", node.Addr, got, state)
			}
			if state != "ok" {
				continue
			}
			if got, want := infoField(info, "cluster_slots_assigned"), strconv.Itoa(clusterSlots); got != want {
				return fmt.Errorf("node %s: cluster_slots_assigned:%s, want %s", node.Addr, got, want)
			}
			if got, want := infoField(info, "cluster_known_nodes"), strconv.Itoa(len(c.Masters)); got != want {
				return fmt.Errorf("node %s: cluster_known_nodes:%s, want %s", node.Addr, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: waiting for cluster_state:%s: %v", state, err)
	}
}

// WaitFailed polls CLUSTER NODES on every other running master until each
// flags node as fail (a majority of masters agreed it is unreachable), and
// fails the test if they have not after 30s. Use it after Kill or Freeze,
// before checking how the rest of the cluster behaves without node.
func (c *Cluster) WaitFailed(t testing.TB, node *Server) {
	t.Helper()
	err := waitFor(nil, clusterTimeout, func() error {
		for _, other := range c.Masters {
			if other == node || !other.running() {
				continue
			}
			nodes, err := callString(other.Addr, "CLUSTER", "NODES")
			if err != nil {
				return fmt.Errorf("node %s: %w", other.Addr, err)
			}
			if flags := nodeFlags(nodes, node.Addr); !slices.Contains(flags, "fail") {
				return fmt.Errorf("node %s flags %s as %q, want fail", other.Addr, node.Addr, flags)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: waiting for %s to be marked fail: %v", node.Addr, err)
	}
}

// nodeFlags returns the flags a CLUSTER NODES reply gives the node at addr
// ("<id> <ip:port@bus-port> <flags,...> ..." a line), or nil.
func nodeFlags(nodes, addr string) []string {
	for line := range strings.Lines(nodes) {
		fields := strings.Fields(line)
		if len(fields) >= 3 && strings.HasPrefix(fields[1], addr+"@") {
			return strings.Split(fields[2], ",")
		}
	}
	return nil
}
