package memcachel2

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// ringKeys are item names as Tier makes them, for n keys.
func ringKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		sum := sha256.Sum256(fmt.Appendf(nil, "GET http://api.example/items/%d", i))
		keys[i] = "moat:1:" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return keys
}

func serverNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("cache-%d.internal:11211", i+1)
	}
	return names
}

// placement returns the name of the server each key is on.
func placement(r *ring, names, keys []string) []string {
	on := make([]string, len(keys))
	for i, k := range keys {
		on[i] = names[r.server(k)]
	}
	return on
}

// manyKeys are the keys the ring's statistics are measured on, made once.
var manyKeys = sync.OnceValue(func() []string { return ringKeys(100_000) })

// TestRingSpreadsEvenly: with 160 points a server, every server of a pool
// holds its share of the keys within 20%.
func TestRingSpreadsEvenly(t *testing.T) {
	keys := manyKeys()
	for _, n := range []int{2, 3, 5, 10} {
		t.Run(fmt.Sprintf("%d_servers", n), func(t *testing.T) {
			names := serverNames(n)
			count := map[string]int{}
			for _, s := range placement(newRing(names), names, keys) {
				count[s]++
			}
			want := float64(len(keys)) / float64(n)
			for _, s := range names {
				if got := float64(count[s]); got < 0.8*want || got > 1.2*want {
					t.Errorf("%s holds %.0f keys, want %.0f ± 20%%", s, got, want)
				}
			}
		})
	}
}

// TestRingMovesAFewKeys: adding a server to N moves only keys to it, about
// 1/(N+1) of them; removing one moves only its own, about 1/N.
func TestRingMovesAFewKeys(t *testing.T) {
	keys := manyKeys()
	for _, n := range []int{2, 3, 4, 9} {
		t.Run(fmt.Sprintf("add_to_%d", n), func(t *testing.T) {
			before, after := serverNames(n), serverNames(n+1)
			added := after[n]
			was, now := placement(newRing(before), before, keys), placement(newRing(after), after, keys)
			moved := 0
			for i := range keys {
				if was[i] != now[i] {
					moved++
					if now[i] != added {
						t.Fatalf("key %d moved from %s to %s, not to the added server", i, was[i], now[i])
					}
				}
			}
			checkMoved(t, moved, len(keys), n+1)
		})
		t.Run(fmt.Sprintf("remove_from_%d", n+1), func(t *testing.T) {
			before := serverNames(n + 1)
			removed := before[1]
			after := append(append([]string(nil), before[:1]...), before[2:]...)
			was, now := placement(newRing(before), before, keys), placement(newRing(after), after, keys)
			moved := 0
			for i := range keys {
				if was[i] != now[i] {
					moved++
					if was[i] != removed {
						t.Fatalf("key %d moved from %s, which stayed", i, was[i])
					}
				} else if now[i] == removed {
					t.Fatalf("key %d is still on the removed server", i)
				}
			}
			checkMoved(t, moved, len(keys), n+1)
		})
	}
}

// checkMoved fails unless moved keys of total are 1/servers of them, within 25%.
func checkMoved(t *testing.T, moved, total, servers int) {
	t.Helper()
	want := float64(total) / float64(servers)
	if got := float64(moved); got < 0.75*want || got > 1.25*want {
		t.Errorf("%d of %d keys moved (%.1f%%), want about 1/%d (%.0f ± 25%%)", moved, total, 100*got/float64(total), servers, want)
	}
}

// TestRingIgnoresOrder: nodes that list the same servers in another order
// place every key on the same server.
func TestRingIgnoresOrder(t *testing.T) {
	keys := ringKeys(10_000)
	names := serverNames(7)
	shuffled := append([]string(nil), names...)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	a, b := placement(newRing(names), names, keys), placement(newRing(shuffled), shuffled, keys)
	for i := range keys {
		if a[i] != b[i] {
			t.Fatalf("key %d: on %s in one order, %s in another", i, a[i], b[i])
		}
	}
}

// TestModNMovesMostKeys is why the ring exists: gomemcache's ServerList
// (crc32 mod N) moves most keys when a server is added.
func TestModNMovesMostKeys(t *testing.T) {
	keys := ringKeys(10_000)
	addrs := func(n int) []string {
		a := make([]string, n)
		for i := range a {
			a[i] = fmt.Sprintf("10.0.0.%d:11211", i+1)
		}
		return a
	}
	var before, after memcache.ServerList
	if err := before.SetServers(addrs(4)...); err != nil {
		t.Fatal(err)
	}
	if err := after.SetServers(addrs(5)...); err != nil {
		t.Fatal(err)
	}
	moved := 0
	for _, k := range keys {
		a, _ := before.PickServer(k)
		b, _ := after.PickServer(k)
		if a.String() != b.String() {
			moved++
		}
	}
	if moved < len(keys)/2 {
		t.Errorf("crc32 mod N moved %d of %d keys; the comment on ring says most", moved, len(keys))
	}
}

func TestRingSelector(t *testing.T) {
	names := []string{"cache-1:11211", "/run/memcached.sock"}
	r := newRing(names)
	var seen []string
	if err := r.Each(func(a net.Addr) error {
		seen = append(seen, a.Network()+" "+a.String())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := "[tcp cache-1:11211 unix /run/memcached.sock]"; fmt.Sprint(seen) != want {
		t.Errorf("Each visited %v, want %s", seen, want)
	}
	a, err := r.PickServer("k")
	if err != nil || a != r.addrs[r.server("k")] {
		t.Errorf("PickServer = %v, %v; want the server of r.server", a, err)
	}
}
