package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// TestFleetStampedeIsOneOriginRequest: concurrent misses of one cold key on
// two nodes that share an L2 and a lease reach the origin once; every
// client gets the one response.
func TestFleetStampedeIsOneOriginRequest(t *testing.T) {
	gate := make(chan struct{})
	var served atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "body %d", served.Add(1))
	})
	fl := newSharedFleet(t, o, nil, nil)
	fl.lease = new(LocalLease)
	a, b := fl.start(), fl.start()

	const perNode = 20
	var wg sync.WaitGroup
	bodies := make(chan string, 2*perNode)
	for _, n := range []*node{a, b} {
		for range perNode {
			wg.Add(1)
			go func() {
				defer wg.Done()
				bodies <- n.do(t, "GET", "/cold").body
			}()
		}
	}
	// One node fetches; the other's leader waits for the lease holder.
	waitFor(t, "the origin request and a contended lease", func() bool {
		sa, _ := a.gw.LeaseStats()
		sb, _ := b.gw.LeaseStats()
		return o.total.Load() == 1 && sa.Acquired+sb.Acquired == 1 && sa.Contended+sb.Contended == 1
	})
	close(gate)
	wg.Wait()
	close(bodies)
	for body := range bodies {
		if body != "body 1" {
			t.Errorf("a client got %q, want the one origin response", body)
		}
	}
	if n := o.total.Load(); n != 1 {
		t.Errorf("origin asked %d times for one key across two nodes, want 1", n)
	}
	sa, _ := a.gw.LeaseStats()
	sb, _ := b.gw.LeaseStats()
	if sa.Waited+sb.Waited != 1 {
		t.Errorf("leases waited out: %d, want 1 (%+v %+v)", sa.Waited+sb.Waited, sa, sb)
	}
}

// TestFleetLeaseHolderStoresNothing: when the node holding the lease gets
// an answer it does not store, the other nodes stop waiting as soon as it
// lets the lease go and ask the origin themselves.
func TestFleetLeaseHolderStoresNothing(t *testing.T) {
	gate := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, "private")
	})
	fl := newSharedFleet(t, o, []policy.Policy{{Pattern: "GET /x"}}, nil)
	fl.lease = new(LocalLease)
	a, b := fl.start(), fl.start()
	for _, n := range []*node{a, b} {
		n.gw.coalesceWait = time.Hour // a waiter that waits for it fails the test
	}
	done := make(chan string, 2)
	go func() { done <- a.do(t, "GET", "/x").body }()
	waitFor(t, "A's origin request", func() bool { return o.total.Load() == 1 })
	go func() { done <- b.do(t, "GET", "/x").body }()
	waitFor(t, "B waiting on A's lease", func() bool { s, _ := b.gw.LeaseStats(); return s.Contended == 1 })
	close(gate)
	for range 2 {
		select {
		case body := <-done:
			if body != "private" {
				t.Errorf("got %q", body)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a request still waits after the lease holder let go without storing")
		}
	}
	if n := o.total.Load(); n != 2 {
		t.Errorf("origin asked %d times, want 2 (the response is not stored)", n)
	}
}

// TestFleetLeaseErrorProceeds: a lease that fails never costs an answer:
// each node fetches on its own.
func TestFleetLeaseErrorProceeds(t *testing.T) {
	o := taggedOrigin(t)
	fl := newSharedFleet(t, o, nil, nil)
	fl.lease = failingLease{}
	a, b := fl.start(), fl.start()
	for _, n := range []*node{a, b} {
		if r := n.do(t, "GET", "/y"); r.status != http.StatusOK {
			t.Errorf("with the lease failing: %d", r.status)
		}
	}
	if s, _ := a.gw.LeaseStats(); s.Errors != 1 {
		t.Errorf("lease errors on A: %d, want 1", s.Errors)
	}
}

type failingLease struct{}

func (failingLease) Acquire(context.Context, string, time.Duration) (func(), bool, error) {
	return nil, false, errors.New("injected")
}
func (failingLease) Held(context.Context, string) (bool, error) { return false, errors.New("injected") }
