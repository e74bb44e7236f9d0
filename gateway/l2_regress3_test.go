package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// dropBus loses every purge published to member 0 while drop is set.
type dropBus struct {
	LocalBus
	n    int
	drop atomic.Bool
	lost []func()
}

func (b *dropBus) Join(deliver func(Purge), lost func()) (func(Purge), func()) {
	id := b.n
	b.n++
	b.lost = append(b.lost, lost)
	return b.LocalBus.Join(func(p Purge) {
		if id == 0 && b.drop.Load() {
			return
		}
		deliver(p)
	}, lost)
}

func TestL2ReviewSlowFillAcrossLostPurge(t *testing.T) {
	var v atomic.Int64
	block := make(chan struct{})
	var slow atomic.Bool
	slow.Store(true)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		body := fmt.Sprintf("v%d", v.Add(1)) // generated before the write
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "item")
		if slow.Load() {
			<-block
		}
		fmt.Fprint(w, body)
	})
	fl := newFleet(t, o, nil, nil)
	bus := new(dropBus)
	fl.bus = bus
	a, b := fl.start(), fl.start()
	fl.clock.Advance(time.Second)
	done := make(chan result)
	go func() { done <- a.do(t, "GET", "/x") }()
	waitFor(t, "in flight", func() bool { return o.count("GET /x") == 1 })
	slow.Store(false)
	bus.drop.Store(true)
	fl.clock.Advance(time.Second)
	if _, err := b.gw.Purge(context.Background(), Purge{Tags: []string{"item"}}); err != nil { // the write's purge; lost to A
		t.Fatal(err)
	}
	fl.clock.Advance(time.Second)
	bus.lost[0]() // A is told it lost purges
	fl.clock.Advance(time.Second)
	close(block)
	r0 := <-done
	fl.clock.Advance(time.Second)
	ra := a.do(t, "GET", "/x")
	rb := b.do(t, "GET", "/x")
	t.Logf("pre-purge body %q; A: %q %s; B: %q %s", r0.body, ra.body, ra.xcache(), rb.body, rb.xcache())
	if rb.body == r0.body {
		t.Errorf("B promoted a fill that started before the purge")
	}
	if ra.body == r0.body {
		t.Errorf("A served a fill that started before the lost purge")
	}
}
