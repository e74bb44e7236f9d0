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
// runs, released by compare-and-delete, so that a node never extends or
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
	stop := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(ttl / 3)
		defer t.Stop()
		ms := strconv.FormatInt(ttl.Milliseconds(), 10)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				cctx, cancel := context.WithTimeout(context.Background(), leaseCallTimeout)
				n, err := extendLease.Exec(cctx, rc, []string{lk}, []string{token, ms}).AsInt64()
				cancel()
				if err == nil && n == 0 {
					return // expired and taken: not ours to extend
				}
			}
		}
	}()
	release := func() {
		once.Do(func() {
			close(stop)
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
