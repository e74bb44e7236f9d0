package redisl2_test

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// gate is a TCP proxy to a Redis server that refuses connections until
// opened: one node's network path to Redis, cut while the others' works.
type gate struct {
	ln   net.Listener
	to   string
	open atomic.Bool
	mu   sync.Mutex
	cs   []net.Conn
}

func newGate(t *testing.T, to string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, to: to}
	go g.serve()
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for _, c := range g.cs {
			c.Close()
		}
		g.mu.Unlock()
	})
	return g
}

// cut closes the connections through the gate and refuses new ones.
func (g *gate) cut() {
	g.open.Store(false)
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.cs {
		c.Close()
	}
	g.cs = nil
}

func (g *gate) serve() {
	for {
		c, err := g.ln.Accept()
		if err != nil {
			return
		}
		if !g.open.Load() {
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", g.to)
		if err != nil {
			c.Close()
			continue
		}
		g.mu.Lock()
		g.cs = append(g.cs, c, u)
		g.mu.Unlock()
		go func() { io.Copy(u, c); u.Close() }()
		go func() { io.Copy(c, u); c.Close() }()
	}
}

// TestReviewBusPurgeBeforeFirstReadIsLostSilently: a member whose reader
// has not yet found its place in the stream (Redis not reachable from this
// node when it starts, for less than the grace) starts reading after the
// stream's end once it connects. A purge another node published meanwhile
// is neither delivered nor reported: lost is never called, although the
// node may have filled its memory from the origin before that purge. The
// first successful tail after a failure is not checked like a reconnect
// (verify only compares the tail with a cursor it did not have).
func TestReviewBusPurgeBeforeFirstReadIsLostSilently(t *testing.T) {
	srv := redistest.Standalone(t)
	prefix := fmt.Sprintf("busreview%d:", time.Now().UnixNano())
	open := func(addr string) *redisl2.Client {
		c, err := redisl2.New(redisl2.Options{Addrs: []string{addr}, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	ca := open(srv.Addr)
	start := time.Now()
	busA := ca.Bus(redisl2.BusOptions{Grace: 5 * time.Second})
	a := join(t, busA)
	waitReady(t, busA, start)

	g := newGate(t, srv.Addr)
	cb := open(g.ln.Addr().String()) // B cannot reach Redis yet
	busB := cb.Bus(redisl2.BusOptions{Grace: 5 * time.Second})
	b := join(t, busB) // B serves (from the origin) meanwhile

	a.publish(gateway.Purge{Tags: []string{"while-B-was-cut-off"}})
	waitFor(t, "A's purge in the stream", func() bool { return busA.Published.Load() == 1 })

	g.open.Store(true)
	waitFor(t, "B to connect and read", func() bool { return cb.Connected() && busB.LastSeen.Load() > 0 })
	a.publish(gateway.Purge{Tags: []string{"after"}})
	waitFor(t, "the second purge on B", func() bool {
		for _, p := range b.heard() {
			if p.Tags[0] == "after" {
				return true
			}
		}
		return false
	})
	heard := b.heard()
	if len(heard) != 2 && b.lost.Load() == 0 {
		t.Errorf("B heard %v and lost was called %d times: the purge published while B's reader had no "+
			"place in the stream was dropped silently", heard, b.lost.Load())
	}
}

// TestReviewBusQueuedPurgesDroppedOnLeave: a node whose path to Redis is
// cut keeps its purges in the publish queue (retried), but leave (Handler
// Close: a rolling deploy, a scale-in) discards the queue at once. The
// purges it accepted (writes through it, admin purges answered 200) never
// reach the other nodes, and nothing tells them: they are healthy, so no
// gap and no grace ever fires. (A full queue drops the same way, counted
// only on the publisher.)
func TestReviewBusQueuedPurgesDroppedOnLeave(t *testing.T) {
	srv := redistest.Standalone(t)
	prefix := fmt.Sprintf("busreview%d:", time.Now().UnixNano())
	open := func(addr string) *redisl2.Client {
		c, err := redisl2.New(redisl2.Options{Addrs: []string{addr}, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	g := newGate(t, srv.Addr)
	g.open.Store(true)
	start := time.Now()
	ca := open(g.ln.Addr().String())
	busA := ca.Bus(redisl2.BusOptions{Grace: 5 * time.Second})
	pubA, leaveA := busA.Join(func(gateway.Purge) {}, func() {})
	cb := open(srv.Addr)
	busB := cb.Bus(redisl2.BusOptions{Grace: 5 * time.Second})
	b := join(t, busB)
	cc := open(srv.Addr)
	busC := cc.Bus(redisl2.BusOptions{Grace: 5 * time.Second})
	c := join(t, busC)
	waitReady(t, busA, start)
	waitReady(t, busB, start)
	waitReady(t, busC, start)

	g.cut()
	pubA(gateway.Purge{Tags: []string{"accepted-by-A"}})
	waitFor(t, "A's publisher to fail", func() bool { return busA.Errors.Load() > 0 })
	leaveA() // A shuts down

	c.publish(gateway.Purge{Tags: []string{"from-C"}})
	waitFor(t, "C's purge on B", func() bool { return len(b.heard()) > 0 })
	if busA.Dropped.Load() == 0 {
		t.Errorf("A left with a purge it could not send and counted no drop")
	}
	// B cannot hear what A never sent; it notices that A went silent
	// without saying goodbye (within grace + two heartbeats) and stops
	// trusting what it holds. C, which left nothing unsent, is not
	// silent.
	waitFor(t, "B to give up on A's silence", func() bool {
		for _, p := range b.heard() {
			if p.Tags[0] == "accepted-by-A" {
				return true
			}
		}
		return b.lost.Load() > 0
	})
}
