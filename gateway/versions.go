package gateway

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/policy"
)

// Versions holds the namespace versions that route and all purges change:
// a route's entries are keyed under its version (and all's), so a purge of
// the route is one new version, O(1) whatever the route holds. Every node
// that shares a cache must key under the same versions, and a node that
// restarts must not go back to an old one (the entries a purge made
// unreachable would be reachable again from a shared tier): versions are
// random nonces kept where every node reads them, never counters.
//
// Names are route patterns, and AllVersions for all. LocalVersions is the
// in-process implementation; redisl2.Versions (a Redis hash) implements it for a
// fleet. A purge publishes the new versions on the Bus, so other nodes
// adopt them without asking the store; they Load it when they start and
// when the Bus may have lost purges.
type Versions interface {
	// Load returns the versions of every namespace purged so far (a name
	// never purged is absent: version 0).
	Load(ctx context.Context) (map[string]uint64, error)
	// Raise sets each name's version to the one given unless the store
	// holds a greater one, and returns the versions the store holds after
	// it. Versions only grow, so that nodes that hear of two purges in
	// either order end on the same version.
	Raise(ctx context.Context, versions map[string]uint64) (map[string]uint64, error)
}

// AllVersions is the Versions name of the namespace of every route.
const AllVersions = allStamp

// LocalVersions keeps versions in memory, shared by the handlers of one
// process that are given it. The zero value is ready to use.
type LocalVersions struct {
	mu sync.Mutex
	m  map[string]uint64
}

var _ Versions = (*LocalVersions)(nil)

// Load implements Versions.
func (v *LocalVersions) Load(context.Context) (map[string]uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]uint64, len(v.m))
	for k, n := range v.m {
		out[k] = n
	}
	return out, nil
}

// Raise implements Versions.
func (v *LocalVersions) Raise(_ context.Context, versions map[string]uint64) (map[string]uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.m == nil {
		v.m = map[string]uint64{}
	}
	out := make(map[string]uint64, len(versions))
	for name, n := range versions {
		v.m[name] = max(v.m[name], n)
		out[name] = v.m[name]
	}
	return out, nil
}

// NewVersion returns a version greater than after: the time in seconds
// in the high bits, random low bits (two nodes purging in the same second
// pick different versions), never below after+1, below 2^53 so that it
// survives JSON readers that hold numbers as doubles.
func NewVersion(after uint64) uint64 {
	v := uint64(time.Now().Unix())<<20 | (1 + rand.Uint64N(1<<20-1))
	return min(max(v, after+1), 1<<53-1)
}

// namespaces are a handler's copy of the versions. A request reads the
// key suffix of its route, formatted when the versions change, with one
// atomic load and no lock.
type namespaces struct {
	all    atomic.Uint64
	global string                            // the fingerprint of requests of no route
	fps    map[*policy.Policy]string         // each route's fingerprint; fixed at New
	routes map[*policy.Policy]*atomic.Uint64 // fixed at New: read without a lock
	byName map[string]*atomic.Uint64         // pattern → the same counters

	mu       sync.Mutex                                 // serializes formatting the suffixes
	suffixes map[*policy.Policy]*atomic.Pointer[string] // fixed at New; nil key: requests of no route
}

func newNamespaces(t *policy.Table, global string) *namespaces {
	ns := &namespaces{routes: map[*policy.Policy]*atomic.Uint64{}, byName: map[string]*atomic.Uint64{},
		global: global, fps: map[*policy.Policy]string{},
		suffixes: map[*policy.Policy]*atomic.Pointer[string]{nil: new(atomic.Pointer[string])}}
	for _, p := range t.Policies() {
		v := new(atomic.Uint64)
		ns.routes[p] = v
		ns.byName[p.Pattern] = v
		ns.fps[p] = routeFingerprint(global, p)
		ns.suffixes[p] = new(atomic.Pointer[string])
	}
	ns.format()
	return ns
}

// format sets every route's key suffix from the current versions.
func (ns *namespaces) format() {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for pol, sp := range ns.suffixes {
		s := ns.format1(pol)
		sp.Store(&s)
	}
}

// format1 is the key suffix of pol's keys: the configured, all and route
// versions, and the fingerprint of what the route's entries depend on (see
// routeFingerprint), so that a node running another configuration of the
// route, or this node after a reload that changed it, does not find them.
func (ns *namespaces) format1(pol *policy.Policy) string {
	all := ns.all.Load()
	var rv, cv uint64
	fp := ns.global
	if pol != nil {
		if c := ns.routes[pol]; c != nil {
			rv = c.Load()
		}
		cv = pol.Version
		var ok bool
		if fp, ok = ns.fps[pol]; !ok {
			fp = routeFingerprint(ns.global, pol) // a policy of another table
		}
	}
	b := make([]byte, 0, 48)
	b = append(b, "\x00v"...)
	b = strconv.AppendUint(b, cv, 36)
	b = append(b, '.')
	b = strconv.AppendUint(b, all, 36)
	b = append(b, '.')
	b = strconv.AppendUint(b, rv, 36)
	b = append(b, '.')
	b = append(b, fp...)
	return string(b)
}

// adopt raises the versions named in m (names of unknown routes are
// ignored: another node may run a newer config). Versions only grow.
func (ns *namespaces) adopt(m map[string]uint64) {
	for name, v := range m {
		c := ns.byName[name]
		if name == AllVersions {
			c = &ns.all
		}
		if c != nil {
			raise(c, v)
		}
	}
	ns.format()
}

// adoptFrom raises the versions of the routes ns shares (by pattern) with
// prev, the namespaces of the configuration it replaces.
func (ns *namespaces) adoptFrom(prev *namespaces) {
	m := map[string]uint64{AllVersions: prev.all.Load()}
	for name, c := range prev.byName {
		m[name] = c.Load()
	}
	ns.adopt(m)
}

// current returns the versions this node keys the named namespaces
// under.
func (ns *namespaces) current(names []string) map[string]uint64 {
	out := make(map[string]uint64, len(names))
	for _, n := range names {
		if n == AllVersions {
			out[n] = ns.all.Load()
		} else if c := ns.byName[n]; c != nil {
			out[n] = c.Load()
		}
	}
	return out
}

// suffix returns key with the versions a key of a route under pol carries
// (see format1).
func (ns *namespaces) suffix(key string, pol *policy.Policy) string {
	return key + ns.suffixOf(pol)
}

// suffixOf is the suffix of the keys of pol's requests.
func (ns *namespaces) suffixOf(pol *policy.Policy) string {
	if sp := ns.suffixes[pol]; sp != nil {
		return *sp.Load()
	}
	return ns.format1(pol) // a policy of another table: formatted here
}

// loadVersions reads the shared versions into the live handlers' copies.
// If the store cannot answer, the handlers keep the versions they have (at
// New: the configured ones), it says so and reports false (see
// loadVersionsUntilDone).
func (h *Handler) loadVersions() bool {
	ctx, cancel := context.WithTimeout(context.Background(), h.versionTimeout)
	defer cancel()
	m, err := h.versionStore.Load(ctx)
	if err != nil {
		h.log.Error("namespace versions not read from the shared store", "err", err)
		return false
	}
	h.core.adoptVersions(m)
	return true
}

// loadVersionsUntilDone is loadVersions at New: until the versions are
// read, this node may key routes under versions the fleet purged, so it
// vouches for nothing from L2 (versionsUnknown), and it tries again in the
// background.
func (h *Handler) loadVersionsUntilDone() {
	if h.loadVersions() {
		return
	}
	h.versionsUnknown.Store(true)
	h.core.retryVersions(h)
}

// retryVersions loads the versions in the background until the store
// answers, then vouches for L2 again.
func (c *core) retryVersions(h *Handler) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		wait := 100 * time.Millisecond
		for {
			t := time.NewTimer(wait)
			select {
			case <-c.closing:
				t.Stop()
				return
			case <-t.C:
			}
			if cur := c.current(); cur != nil {
				h = cur
			}
			if h.loadVersions() {
				c.versionsUnknown.Store(false)
				return
			}
			wait = min(2*wait, 2*time.Second)
		}
	}()
}
