package redistest_test

import (
	"testing"

	"github.com/moatproxy/moat/internal/redistest"
)

// owner returns the index of the master that holds key.
func owner(t *testing.T, c *redistest.Cluster, key string) int {
	t.Helper()
	slot := c.Masters[0].Do(t, "CLUSTER", "KEYSLOT", key)
	for i, m := range c.Masters {
		if m.Do(t, "CLUSTER", "COUNTKEYSINSLOT", slot) == "1" { // counts local keys only
			return i
		}
	}
	t.Fatalf("no master holds %q (slot %s)", key, slot)
	return -1
}

// setKeysOnEveryMaster sets keys through the first master, following
// redirections, and returns the key each master holds.
func setKeysOnEveryMaster(t *testing.T, c *redistest.Cluster) []string {
	t.Helper()
	keys := make([]string, len(c.Masters))
	for _, key := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		if got := c.Masters[0].Do(t, "SET", key, "value of "+key); got != "OK" {
			t.Fatalf("SET %s = %q, want OK", key, got)
		}
		if i := owner(t, c, key); keys[i] == "" {
			keys[i] = key
		}
	}
	for i, key := range keys {
		if key == "" {
			t.Fatalf("master %d holds none of the keys", i)
		}
	}
	return keys
}

func TestClusterSetGetAcrossSlots(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, true)
	if len(c.Masters) != 3 || len(c.Addrs) != 3 {
		t.Fatalf("got %d masters and %d addrs, want 3 and 3", len(c.Masters), len(c.Addrs))
	}
	keys := setKeysOnEveryMaster(t, c)
	for _, key := range keys {
		for _, m := range c.Masters {
			if got, want := m.Do(t, "GET", key), "value of "+key; got != want {
				t.Errorf("GET %s via %s = %q, want %q", key, m.Addr, got, want)
			}
		}
	}

	t.Run("kill_turns_fail_restart_turns_ok", func(t *testing.T) {
		dead := c.Masters[2]
		dead.Kill()
		c.WaitState(t, "fail") // full coverage: a slot is down
		dead.Restart(t)
		c.WaitState(t, "ok")
		if got, want := c.Masters[0].Do(t, "GET", keys[0]), "value of "+keys[0]; got != want {
			t.Errorf("GET %s after the restart = %q, want %q", keys[0], got, want)
		}
		if got := c.Masters[0].Do(t, "GET", keys[2]); got != "" {
			t.Errorf("GET %s, held by the restarted master, = %q, want \"\" (persistence is off)", keys[2], got)
		}
	})
}

func TestClusterWithoutFullCoverageServesLiveSlots(t *testing.T) {
	t.Parallel()
	c := redistest.StartCluster(t, 3, false)
	keys := setKeysOnEveryMaster(t, c)
	c.Masters[2].Kill()

	c.WaitFailed(t, c.Masters[2]) // check after the failure is known, not before
	c.WaitState(t, "ok")
	for _, key := range keys[:2] {
		if got, want := c.Masters[0].Do(t, "GET", key), "value of "+key; got != want {
			t.Errorf("GET %s with a master down = %q, want %q", key, got, want)
		}
	}
}
