package gateway

import (
	"context"
	"net/url"
	"sync/atomic"
	"testing"
)

// A node joining the Bus while a peer purges: deliver runs on a half-built Handler.
func TestL2ReviewJoinBeforeReady(t *testing.T) {
	o := taggedOrigin(t)
	bus := new(LocalBus)
	u, _ := url.Parse(o.URL)
	a, err := New(Options{Origin: u, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			a.Purge(context.Background(), Purge{Tags: []string{"x"}, URLs: []string{"http://h/x"}})
		}
	}()
	for range 300 {
		b, err := New(Options{Origin: u, Bus: bus})
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	stop.Store(true)
	<-done
}
