package redisl2

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/gateway"
)

// Lease is the fleet-wide fill lease in Redis (see gateway.Lease): SET NX
// PX with a random token, extended every third of its time while the fill
// runs (by one goroutine for all the leases of a Client, see leaseSet),
// released by compare-and-delete, so that a node never extends or
// releases another node's lease.
type Lease struct{ c *Client }

var _ gateway.Lease = (*Lease)(nil)

// Lease returns the client's fill lease.
func (c *Client) Lease() *Lease { return &Lease{c} }

func (c *Client) leaseKey(key string) string {
	return c.prefix + "{" + hashTag(key) + "}:l:" + strconv.FormatUint(xxhash.Sum64String(key), 16)
}

var (
	extendLease = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	releaseLease = rueidis.NewLuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// leaseCallTimeout bounds the extension and release calls, which run off
// the request path.
const leaseCallTimeout = time.Second

// leaseMinWait is the shortest the extender sleeps between rounds.
const leaseMinWait = 10 * time.Millisecond

// leaseSet is the leases a client holds. One goroutine extends them all,
// those that are due in one pipelined batch, and runs only while some are
// held: a node with thousands of fills in flight holds thousands of leases,
// and a goroutine and a ticker for each cost more than the fills.
type leaseSet struct {
	mu      sync.Mutex
	held    map[*heldLease]struct{}
	running bool // the extender runs
}

// heldLease is a lease this client holds.
type heldLease struct {
	key, token string
	ttl        string        // milliseconds, for PEXPIRE
	every      time.Duration // a third of the ttl
	next       time.Time     // when the next extension is due
}

// hold adds h to the leases extended until drop.
func (c *Client) hold(h *heldLease) {
	s := &c.leases
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = map[*heldLease]struct{}{}
	}
	s.held[h] = struct{}{}
	if !s.running {
		s.running = true
		go c.extendLeases()
	}
}

// drop stops extending h.
func (c *Client) drop(h *heldLease) {
	s := &c.leases
	s.mu.Lock()
	delete(s.held, h)
	s.mu.Unlock()
}

// extendLeases extends the held leases when they are due, until none is
// held or the client closes. A lease that expired and was taken by
// another node is no longer extended (its holder finds out at release:
// the compare-and-delete does nothing).
func (c *Client) extendLeases() {
	s := &c.leases
	t := time.NewTimer(leaseMinWait)
	defer t.Stop()
	var due []*heldLease
	var execs []rueidis.LuaExec
	for {
		select {
		case <-c.done:
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			return
		case <-t.C:
		}
		now := time.Now()
		wait := time.Duration(1<<63 - 1)
		due, execs = due[:0], execs[:0]
		s.mu.Lock()
		if len(s.held) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		for h := range s.held {
			if !h.next.After(now) {
				h.next = now.Add(h.every)
				due = append(due, h)
				execs = append(execs, rueidis.LuaExec{Keys: []string{h.key}, Args: []string{h.token, h.ttl}})
			}
			wait = min(wait, h.next.Sub(now))
		}
		s.mu.Unlock()
		if len(execs) > 0 {
			if rc, err := c.r(); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), leaseCallTimeout)
				for i, r := range extendLease.ExecMulti(ctx, rc, execs...) {
					if n, err := r.AsInt64(); err == nil && n == 0 {
						c.drop(due[i]) // expired and taken: not ours to extend
					}
				}
				cancel()
			}
		}
		t.Reset(max(wait, leaseMinWait))
	}
}

// Acquire implements gateway.Lease.
func (l *Lease) Acquire(ctx context.Context, key string, ttl time.Duration) (_ func(), _ bool, err error) {
	c := l.c
	defer c.observed("lease", time.Now(), &err)
	rc, err := c.r()
	if err != nil {
		return nil, false, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	lk := c.leaseKey(key)
	ttl = max(ttl, 100*time.Millisecond)
	err = rc.Do(ctx, rc.B().Set().Key(lk).Value(token).Nx().PxMilliseconds(ttl.Milliseconds()).Build()).Error()
	if rueidis.IsRedisNil(err) {
		return nil, false, nil // held by another
	}
	if err != nil {
		// The SET may still reach Redis (a deadline passed while it was
		// on its way): take back a lease nobody would hold, once Redis
		// answers, so that other nodes do not wait for it to expire.
		go func() {
			// Until Redis answers, or the lease would have expired anyway.
			for deadline := time.Now().Add(2 * ttl); time.Now().Before(deadline); {
				cctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				err := releaseLease.Exec(cctx, rc, []string{lk}, []string{token}).Error()
				cancel()
				if err == nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		return nil, false, err
	}
	h := &heldLease{key: lk, token: token, ttl: strconv.FormatInt(ttl.Milliseconds(), 10), every: ttl / 3}
	h.next = time.Now().Add(h.every)
	c.hold(h)
	var once sync.Once
	release := func() {
		once.Do(func() {
			c.drop(h)
			cctx, cancel := context.WithTimeout(context.Background(), leaseCallTimeout)
			defer cancel()
			_ = releaseLease.Exec(cctx, rc, []string{lk}, []string{token}).Error()
		})
	}
	return release, true, nil
}

// Held implements gateway.Lease.
func (l *Lease) Held(ctx context.Context, key string) (_ bool, err error) {
	c := l.c
	defer c.observed("lease", time.Now(), &err)
	rc, err := c.r()
	if err != nil {
		return false, err
	}
	n, err := rc.Do(ctx, rc.B().Exists().Key(c.leaseKey(key)).Build()).AsInt64()
	return n > 0, err
}
