package upstream_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/moatproxy/moat/upstream"
)

func TestRoundRobinWeights(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	ms := members(a, b)
	ms[0].Weight = 3 // b keeps 0, which means 1
	p := newPool(t, upstream.Options{Members: ms})

	var order string
	got := map[string]int{}
	for i := range 400 {
		m, _ := get(t, p, "/")
		got[m]++
		if i < 8 {
			order += m
		}
	}
	if got["a"] != 300 || got["b"] != 100 {
		t.Errorf("got %v, want a:300 b:100", got)
	}
	// Smooth: b is interleaved, never after a burst of three a's.
	if want := "aabaaaba"; order != want {
		t.Errorf("first picks %q, want %q", order, want)
	}
}

func TestPreferLessLoaded(t *testing.T) {
	for _, balance := range []upstream.Balance{upstream.LeastConn, upstream.Random2} {
		t.Run(string(balance), func(t *testing.T) {
			a, b := newBackend(t, "a"), newBackend(t, "b")
			p := newPool(t, upstream.Options{Members: members(a, b), Balance: balance})

			busy, body := hold(t, p)
			idle := map[string]string{"a": "b", "b": "a"}[busy]
			for range 20 {
				if m, _ := get(t, p, "/"); m != idle {
					t.Fatalf("request went to %s holding a request, want %s", m, idle)
				}
			}
			body.Close()
			if got := p.Stats(); got[0].InFlight+got[1].InFlight != 0 {
				t.Fatalf("in flight after close: %d, %d, want 0", got[0].InFlight, got[1].InFlight)
			}
			got := map[string]int{}
			for range 50 {
				m, _ := get(t, p, "/")
				got[m]++
			}
			if got["a"] == 0 || got["b"] == 0 {
				t.Errorf("idle pool: got %v, want both members used", got)
			}
		})
	}
}

func TestLeastConnWeighted(t *testing.T) {
	a, b := newBackend(t, "a"), newBackend(t, "b")
	ms := members(a, b)
	ms[0].Weight = 2
	p := newPool(t, upstream.Options{Members: ms, Balance: upstream.LeastConn})

	// a's weight 2 lets it hold two requests while b holds one; the fourth
	// then goes to whichever has the fewest per unit of weight.
	seen := map[string]int{}
	for range 3 {
		m, _ := hold(t, p)
		seen[m]++
	}
	if seen["a"] != 2 || seen["b"] != 1 {
		t.Errorf("held requests: got %v, want a:2 b:1", seen)
	}
}

func TestHashStickyAndMinimalMovement(t *testing.T) {
	bs := []*backend{newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")}
	p := newPool(t, upstream.Options{Members: members(bs...), Balance: upstream.Hash, Health: fastHealth(1, 1)})
	p.Start()

	paths := make([]string, 300)
	for i := range paths {
		paths[i] = fmt.Sprintf("/item/%d?v=%d", i, i%7)
	}
	route := func() map[string]string {
		owner := map[string]string{}
		for _, path := range paths {
			owner[path], _ = get(t, p, path)
		}
		return owner
	}
	before := route()
	counts := map[string]int{}
	for _, path := range paths {
		counts[before[path]]++
	}
	for _, b := range bs {
		if counts[b.name] < 50 {
			t.Errorf("member %s owns %d of %d URLs, want a fair share", b.name, counts[b.name], len(paths))
		}
	}
	if again := route(); fmt.Sprint(again) != fmt.Sprint(before) {
		t.Fatal("same URLs went to different members")
	}

	bs[1].sick.Store(true)
	eventually(t, 5*time.Second, "b down", func() bool { return stateOf(p, 1) == upstream.StateDown })
	during := route()
	for _, path := range paths {
		switch {
		case before[path] != "b" && during[path] != before[path]:
			t.Errorf("%s moved from %s to %s though %s is up", path, before[path], during[path], before[path])
		case during[path] == "b":
			t.Errorf("%s went to b while b is down", path)
		}
	}

	bs[1].sick.Store(false)
	eventually(t, 5*time.Second, "b up", func() bool { return stateOf(p, 1) == upstream.StateUp })
	if after := route(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Error("URLs did not return to their member once it was back")
	}
}

func TestFirstFailoverAndBackup(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	ms := members(a, b, c)
	ms[2].Backup = true
	p := newPool(t, upstream.Options{Members: ms, Balance: upstream.First, Health: fastHealth(1, 1)})
	p.Start()

	expect := func(want string) {
		t.Helper()
		for range 5 {
			if m, _ := get(t, p, "/"); m != want {
				t.Fatalf("request went to %s, want %s", m, want)
			}
		}
	}
	waitState := func(i int, state string) {
		t.Helper()
		eventually(t, 5*time.Second, fmt.Sprintf("member %d %s", i, state), func() bool { return stateOf(p, i) == state })
	}

	expect("a")
	a.sick.Store(true)
	waitState(0, upstream.StateDown)
	expect("b")
	b.sick.Store(true)
	waitState(1, upstream.StateDown)
	if got := p.Healthy(); got != 1 {
		t.Errorf("Healthy() = %d, want 1 (the backup)", got)
	}
	expect("c")
	b.sick.Store(false)
	waitState(1, upstream.StateUp)
	expect("b")
	a.sick.Store(false)
	waitState(0, upstream.StateUp)
	expect("a")
}

func TestBackupIdleWhilePrimariesUp(t *testing.T) {
	a, b, c := newBackend(t, "a"), newBackend(t, "b"), newBackend(t, "c")
	ms := members(a, b, c)
	ms[2].Backup = true
	ms[2].Weight = 100
	for _, balance := range []upstream.Balance{upstream.RoundRobin, upstream.LeastConn, upstream.Random2, upstream.Hash} {
		p := newPool(t, upstream.Options{Members: ms, Balance: balance})
		for i := range 30 {
			get(t, p, fmt.Sprintf("/%d", i))
		}
	}
	if n := c.hits.Load(); n != 0 {
		t.Errorf("backup served %d requests while the primaries were up, want 0", n)
	}
}
