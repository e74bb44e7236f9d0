package gateway

import (
	"slices"
	"sync"
	"testing"
)

// lossyBus is a fleet bus whose loss a test triggers.
type lossyBus struct {
	LocalBus
	mu     sync.Mutex
	losses []func()
}

func (b *lossyBus) Join(deliver func(Purge), lost func()) (func(Purge), func()) {
	b.mu.Lock()
	b.losses = append(b.losses, lost)
	b.mu.Unlock()
	return b.LocalBus.Join(deliver, lost)
}

func (b *lossyBus) lose() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.losses {
		l()
	}
}

// A process's members hear each other's purges before publish returns,
// the other processes hear them through the fleet bus, once per process,
// and a loss on the fleet bus is every member's.
func TestLocalBusOnAFleet(t *testing.T) {
	fleet := &lossyBus{}
	a, b := NewLocalBus(fleet), NewLocalBus(fleet)
	defer a.Close()
	defer b.Close()
	var mu sync.Mutex
	heard := map[string][]string{}
	lost := map[string]int{}
	join := func(bus *LocalBus, name string) func(Purge) {
		pub, _ := bus.Join(func(p Purge) {
			mu.Lock()
			heard[name] = append(heard[name], p.Tags[0])
			mu.Unlock()
		}, func() { mu.Lock(); lost[name]++; mu.Unlock() })
		return pub
	}
	pubA1 := join(a, "a1")
	join(a, "a2")
	join(b, "b1")
	join(b, "b2")
	pubA1(Purge{Tags: []string{"t"}})
	mu.Lock()
	for name, want := range map[string][]string{"a1": nil, "a2": {"t"}, "b1": {"t"}, "b2": {"t"}} {
		if !slices.Equal(heard[name], want) {
			t.Errorf("%s heard %v, want %v", name, heard[name], want)
		}
	}
	mu.Unlock()
	fleet.lose()
	mu.Lock()
	defer mu.Unlock()
	for _, name := range []string{"a1", "a2", "b1", "b2"} {
		if lost[name] != 1 {
			t.Errorf("%s told of %d losses, want 1", name, lost[name])
		}
	}
}
