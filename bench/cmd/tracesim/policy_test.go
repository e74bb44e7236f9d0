package main

import (
	"math/rand/v2"
	"testing"
)

// uniform returns weights of n objects that all weigh wt, without keys
// (enough for the LRU and Belady policies).
func uniform(n int, wt int64) *weights {
	w := &weights{weight: make([]int64, n)}
	for i := range w.weight {
		w.weight[i] = wt
	}
	return w
}

// optimum is the most hits any policy can get on reqs with room for k
// objects of equal size, found by exhaustive search: on a miss, either do
// not admit, or admit (evicting any one resident if full).
func optimum(reqs []int32, k int) int {
	type state struct {
		i   int
		set uint32
	}
	memo := map[state]int{}
	var best func(i int, set uint32, size int) int
	best = func(i int, set uint32, size int) int {
		if i == len(reqs) {
			return 0
		}
		st := state{i, set}
		if v, ok := memo[st]; ok {
			return v
		}
		bit := uint32(1) << reqs[i]
		var v int
		if set&bit != 0 {
			v = 1 + best(i+1, set, size)
		} else {
			v = best(i+1, set, size) // bypass
			if size < k {
				v = max(v, best(i+1, set|bit, size+1))
			} else {
				for e := uint32(0); e < 32; e++ {
					if set&(1<<e) != 0 {
						v = max(v, best(i+1, set&^(1<<e)|bit, size))
					}
				}
			}
		}
		memo[st] = v
		return v
	}
	return best(0, 0, 0)
}

func hits(t *trace, p policy) int {
	n := 0
	for i, o := range t.reqs {
		if p.access(i, o) {
			n++
		}
	}
	return n
}

func TestBeladyIsOptimalForEqualSizes(t *testing.T) {
	// maxObject admits objects up to budget/8, so the smallest cache holds
	// 8 objects; traces use 11 objects so that it must evict.
	const k, objects, wt = 8, 11, 100
	rng := rand.New(rand.NewPCG(1, 2))
	w := uniform(objects, wt)
	for n := range 300 {
		reqs := make([]int32, 24)
		for i := range reqs {
			// Skewed, so that choosing what to keep matters.
			reqs[i] = int32(min(rng.IntN(objects), rng.IntN(objects)))
		}
		tr := &trace{reqs: reqs, sizes: make([]int32, objects)}
		want := optimum(reqs, k)
		if got := hits(tr, newBeladyMIN(w, tr, k*wt)); got != want {
			t.Fatalf("trace %d %v: Belady-MIN hits = %d, want the optimum %d", n, reqs, got, want)
		}
		if got := hits(tr, newBeladySize(w, tr, k*wt, 64)); got != want {
			t.Fatalf("trace %d %v: Belady-size hits = %d, want the optimum %d (equal sizes)", n, reqs, got, want)
		}
		if got := hits(tr, newLRU(w, k*wt)); got > want {
			t.Fatalf("trace %d %v: LRU hits = %d, above the optimum %d", n, reqs, got, want)
		}
	}
}

func TestBeladySizeEvictsLargestSizeTimesDistance(t *testing.T) {
	// Object 0 is big and needed soon; object 1 is small and needed a
	// little later. Size-blind MIN would evict 1 (farthest); Belady-size
	// evicts 0, whose size × distance is larger (800×10 > 100×20).
	w := &weights{weight: []int64{800, 100, 100}}
	tr := &trace{reqs: []int32{0, 1, 2}, sizes: make([]int32, 3)}
	c := newBeladySize(w, tr, 8000, 64)
	for _, o := range []int32{0, 1, 2} {
		c.slot[o] = int32(len(c.residents))
		c.residents = append(c.residents, o)
	}
	c.nextOf[0], c.nextOf[1], c.nextOf[2] = 10, 20, 5
	if got := c.victim(0); got != 0 {
		t.Errorf("victim = %d, want 0 (largest size × distance)", got)
	}
}

func TestLRU(t *testing.T) {
	const wt = 10
	w := uniform(10, wt)
	c := newLRU(w, 8*wt)
	steps := []struct {
		o   int32
		hit bool
	}{
		{0, false}, {1, false}, {2, false}, {3, false}, {4, false}, {5, false}, {6, false}, {7, false},
		{0, true},  // 0 becomes most recent; 1 is now the least recent
		{8, false}, // evicts 1
		{1, false}, // evicts 2
		{0, true},
		{2, false},
		{8, true},
	}
	for i, s := range steps {
		if got := c.access(i, s.o); got != s.hit {
			t.Fatalf("step %d (object %d): hit = %v, want %v", i, s.o, got, s.hit)
		}
	}
	if c.used > c.budget {
		t.Errorf("used %d bytes, over the budget of %d", c.used, c.budget)
	}
}

func TestLRUSkipsObjectsOverAnEighthOfTheBudget(t *testing.T) {
	w := &weights{weight: []int64{200, 10}}
	c := newLRU(w, 800)
	c.access(0, 0)
	if c.access(1, 0) {
		t.Error("object over budget/8 was stored")
	}
}

func TestL1(t *testing.T) {
	tr := &trace{reqs: []int32{0, 1, 0, 1, 2}, sizes: []int32{1000, 2000, 1 << 20}}
	w := newWeights(tr)
	c, err := newL1(w, 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	want := []bool{false, false, true, true, false}
	for i, o := range tr.reqs {
		if got := c.access(i, o); got != want[i] {
			t.Errorf("request %d (object %d): hit = %v, want %v", i, o, got, want[i])
		}
	}
	if c.access(5, 2) {
		t.Error("object over an eighth of the budget was stored")
	}
}

func TestWeightsMatchMoat(t *testing.T) {
	tr := &trace{sizes: []int32{1000}}
	w := newWeights(tr)
	if got, want := w.weight[0], int64(w.entry(0).Size()); got != want {
		t.Errorf("weight = %d, want Entry.Size() = %d", got, want)
	}
	if got := len(w.entry(0).Body); got != 1000 {
		t.Errorf("body = %d bytes, want 1000", got)
	}
}

func TestNextUse(t *testing.T) {
	got := nextUse([]int32{0, 1, 0, 2, 1}, 3)
	want := []int32{2, 4, 5, 5, 5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("nextUse = %v, want %v", got, want)
		}
	}
}

func TestZipfSkew(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	z := newZipf(rng, 1000, 0.9)
	counts := make([]int, 1000)
	for range 200_000 {
		counts[z.next()]++
	}
	// P(rank 1) / P(rank 10) = 10^0.9 ≈ 7.9.
	if r := float64(counts[0]) / float64(counts[9]); r < 6.5 || r > 9.5 {
		t.Errorf("count(rank 1)/count(rank 10) = %.2f, want ≈ 7.9", r)
	}
}

func TestScanTrace(t *testing.T) {
	tr := scanTrace("s", 1, 100, 1000, 0.9, 80, 20)
	if len(tr.reqs) != 1000 {
		t.Fatalf("len = %d, want 1000", len(tr.reqs))
	}
	scans := 0
	for _, o := range tr.reqs {
		if o >= 100 {
			scans++
		}
	}
	if scans != 200 {
		t.Errorf("scan requests = %d, want 200 (a fifth)", scans)
	}
	if len(tr.sizes) != 100+200 {
		t.Errorf("objects = %d, want 300", len(tr.sizes))
	}
}

func TestStaticOptimum(t *testing.T) {
	// Budget 800 holds 8 objects of 100 (objects up to 100 admitted).
	// Object 0 is requested 5 times, 1..9 twice each, 10 once.
	w := uniform(11, 100)
	reqs := []int32{0, 0, 0, 0, 0, 10}
	for o := int32(1); o <= 9; o++ {
		reqs = append(reqs, o, o)
	}
	tr := &trace{reqs: reqs, sizes: make([]int32, 11)}
	// Best set: 0 (4 hits) and seven of 1..9 (1 hit each) = 11 hits.
	if got, want := staticOptimum(tr, w, 800), 11.0/float64(len(reqs)); got != want {
		t.Errorf("staticOptimum = %v, want %v", got, want)
	}
}
