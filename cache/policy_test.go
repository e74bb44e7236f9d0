package cache

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"testing"
)

// sim drives a policy directly, as Memory does, with unit weights chosen
// per key.
type sim struct {
	p       *policy
	seed    maphash.Seed
	at      map[string]*node
	evicted []string
}

func newSim(maximum int64) *sim {
	s := &sim{at: map[string]*node{}, seed: maphash.MakeSeed()}
	s.p = newPolicy(maximum, func(n *node) {
		s.evicted = append(s.evicted, n.key)
		delete(s.at, n.key)
	})
	return s
}

// request is one request for key: a hit if it is held, else a fill.
func (s *sim) request(key string, weight uint32) bool {
	if n, ok := s.at[key]; ok {
		s.p.access(n)
		return true
	}
	n := &node{key: key, weight: weight, heapAt: -1, hash: uint32(maphash.String(s.seed, key))}
	s.at[key] = n
	s.p.add(n)
	return false
}

func (s *sim) checkBound(t *testing.T) {
	t.Helper()
	var sum int64
	for _, n := range s.at {
		sum += int64(n.weight)
	}
	if sum != s.p.weightedSize() {
		t.Fatalf("held %d bytes, the policy counts %d", sum, s.p.weightedSize())
	}
	if sum > s.p.maximum {
		t.Fatalf("held %d bytes, over the budget of %d", sum, s.p.maximum)
	}
}

func TestAdmissionWeighsAllVictims(t *testing.T) {
	// A budget of 10,000 bytes: a 100-byte window and 9,900 of main space,
	// filled by nine 1,000-byte entries requested twice each. A 3,000-byte
	// candidate must displace three of them (frequency 2 + 2 + 2): it is
	// admitted when requested more often than the three together, not
	// merely more often than one (which a size-blind TinyLFU would do at
	// frequency 3).
	tests := []struct {
		requests int
		admitted bool
	}{
		{3, false},
		{4, false},
		{5, false},
		{7, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("frequency_%d", tt.requests), func(t *testing.T) {
			s := newSim(10_000)
			s.p.sketch.resize(1 << 10) // counting from the first request
			for i := range 9 {
				s.request(fmt.Sprint("small", i), 1000)
			}
			for i := range 9 {
				if !s.request(fmt.Sprint("small", i), 1000) {
					t.Fatalf("small%d missing before the candidate came", i)
				}
			}
			for range tt.requests {
				s.request("big", 3000)
				s.checkBound(t)
			}
			_, held := s.at["big"]
			// At frequency 6 a candidate may be admitted at random (1 in
			// 128), so only "not admitted up to 5" and "admitted at 7" are
			// certain.
			if held != tt.admitted {
				t.Errorf("big held = %v after %d requests, want %v (evicted: %v)", held, tt.requests, tt.admitted, s.evicted)
			}
			if tt.admitted {
				smalls := 0
				for k := range s.at {
					if k != "big" {
						smalls++
					}
				}
				if smalls != 6 {
					t.Errorf("%d small entries held, want 6 (three displaced)", smalls)
				}
			}
		})
	}
}

func TestPolicyBoundHoldsWithMixedSizes(t *testing.T) {
	s := newSim(50_000)
	for i := range 20_000 {
		k := i * 7919 % 3000 // a few thousand keys, revisited
		s.request(fmt.Sprint("k", k), uint32(100+k%37*150))
		if i%997 == 0 {
			s.checkBound(t)
		}
	}
	s.checkBound(t)
}

func TestWindowGrowsWhenRecencyPays(t *testing.T) {
	// Every key is requested once more, 1 to 500 new keys after its first
	// request, and never again: frequency tells nothing, and the more of
	// the last 500 keys the window holds, the more hits. The climber must
	// grow the window from its 1% towards half of the cache.
	const entries = 1000
	s := newSim(entries * 100)
	rng := rand.New(rand.NewPCG(1, 2))
	const keys = 200_000
	again := make([][]int, keys+501)
	hits, requests := 0, 0
	for k := range keys {
		for _, o := range append(again[k], k) {
			requests++
			if s.request(fmt.Sprint("k", o), 100) {
				hits++
			}
		}
		d := 1 + rng.IntN(500)
		again[k+d] = append(again[k+d], k)
	}
	if got, min := s.p.windowMax, int64(0.2*float64(s.p.maximum)); got < min {
		t.Errorf("window = %d bytes (%.0f%% of the budget), want at least 20%%; hit ratio %.3f",
			got, 100*float64(got)/float64(s.p.maximum), float64(hits)/float64(requests))
	}
	t.Logf("window %.0f%% of the budget, hit ratio %.3f", 100*float64(s.p.windowMax)/float64(s.p.maximum), float64(hits)/float64(requests))
	s.checkBound(t)
}
