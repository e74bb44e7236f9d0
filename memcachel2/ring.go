package memcachel2

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/cespare/xxhash/v2"
)

// pointsPerServer is how many points each server has on the ring (as
// ketama's 160): enough that each server's share of the keys is within a
// few percent of 1/N, few enough that the ring of a large pool stays small.
const pointsPerServer = 160

// A ring places keys on servers by consistent hashing: each server owns
// pointsPerServer points on a circle of 64-bit hashes, and a key belongs to
// the server of the first point at or after its hash. Adding a server to N
// moves only the keys that the new server's points take, about 1/(N+1) of
// them, all to it; removing one moves only its own keys. (gomemcache's
// ServerList, crc32 mod N, moves about N/(N+1) of them: the whole L2 would
// go cold at once.)
//
// The ring depends only on the servers' names as configured, never on their
// order or on DNS, so every node configured with the same names places every
// key on the same server. It is immutable, so safe for concurrent use.
type ring struct {
	addrs  []net.Addr // by server index, in the order configured
	points []point    // sorted by hash, then server name
}

var _ memcache.ServerSelector = (*ring)(nil)

type point struct {
	hash   uint64
	server int
}

// newRing returns the ring of servers, each "host:port" or the path of a
// Unix socket (it holds a '/'), named as given: they are resolved when
// dialed, not here.
func newRing(servers []string) *ring {
	r := &ring{addrs: make([]net.Addr, len(servers)), points: make([]point, 0, len(servers)*pointsPerServer)}
	for i, s := range servers {
		r.addrs[i] = serverAddr(s)
		for p := range pointsPerServer {
			r.points = append(r.points, point{xxhash.Sum64String(s + "-" + strconv.Itoa(p)), i})
		}
	}
	slices.SortFunc(r.points, func(a, b point) int {
		// Two servers' points can collide: break the tie by name, not by
		// the order of the configuration.
		return cmp.Or(cmp.Compare(a.hash, b.hash), strings.Compare(servers[a.server], servers[b.server]))
	})
	return r
}

// server returns the index of the server that holds key.
func (r *ring) server(key string) int {
	h := xxhash.Sum64String(key)
	i, _ := slices.BinarySearchFunc(r.points, h, func(p point, h uint64) int { return cmp.Compare(p.hash, h) })
	if i == len(r.points) {
		i = 0 // past the last point: around the circle
	}
	return r.points[i].server
}

// PickServer implements memcache.ServerSelector.
func (r *ring) PickServer(key string) (net.Addr, error) {
	return r.addrs[r.server(key)], nil
}

// Each implements memcache.ServerSelector.
func (r *ring) Each(f func(net.Addr) error) error {
	for _, a := range r.addrs {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// serverAddr is the address of a server as configured, dialed by name.
type serverAddr string

func (a serverAddr) Network() string {
	if strings.Contains(string(a), "/") {
		return "unix"
	}
	return "tcp"
}

func (a serverAddr) String() string { return string(a) }
