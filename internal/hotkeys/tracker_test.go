package hotkeys

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// checkInvariants verifies the Space-Saving and heap invariants of every
// shard and returns the number of keys tracked.
func checkInvariants(t *testing.T, tr *Tracker) int {
	t.Helper()
	total := 0
	for si, s := range tr.shards {
		s.mu.Lock()
		if len(s.entries) > s.capacity || len(s.index) != len(s.entries) || len(s.heap) != len(s.entries) {
			t.Errorf("shard %d: %d entries, %d indexed, %d in heap, capacity %d", si, len(s.entries), len(s.index), len(s.heap), s.capacity)
		}
		for i := range s.entries {
			e := &s.entries[i]
			if j, ok := s.index[e.key]; !ok || int(j) != i {
				t.Errorf("shard %d: entry %d key %q indexed at %d, %v", si, i, e.key, j, ok)
			}
			if c := e.count.Load(); c < e.heapCount || e.heapCount < e.err {
				t.Errorf("shard %d: entry %q count %d heapCount %d err %d", si, e.key, c, e.heapCount, e.err)
			}
		}
		for j := 1; j < len(s.heap); j++ {
			if s.less(j, (j-1)/2) {
				t.Errorf("shard %d: heap order broken at %d", si, j)
			}
		}
		total += len(s.entries)
		s.mu.Unlock()
	}
	return total
}

func TestRate(t *testing.T) {
	t.Run("untracked_and_nil", func(t *testing.T) {
		tr := New(Options{})
		if got := tr.Rate("nope"); got != 0 {
			t.Errorf("Rate(untracked) = %v, want 0", got)
		}
		var nilTracker *Tracker
		nilTracker.Observe("k", "/k")
		if got := nilTracker.Rate("k"); got != 0 {
			t.Errorf("nil Rate = %v, want 0", got)
		}
		if got := nilTracker.Top(3); got != nil {
			t.Errorf("nil Top = %v, want nil", got)
		}
	})

	t.Run("one_request_is_lambda", func(t *testing.T) {
		clk := newClock()
		tr := New(Options{HalfLife: time.Minute, Now: clk.Now})
		tr.Observe("k", "/k")
		want := math.Ln2 / 60
		if got := tr.Rate("k"); math.Abs(got-want) > want*1e-6 {
			t.Errorf("Rate after one request = %v, want ln2/60 = %v", got, want)
		}
	})

	t.Run("steady_rate_converges", func(t *testing.T) {
		clk := newClock()
		tr := New(Options{HalfLife: 10 * time.Second, Now: clk.Now})
		// 20 req/s for 200 s: 20 half-lives, crossing several renormalizations.
		for range 4000 {
			tr.Observe("k", "/k")
			clk.Add(50 * time.Millisecond)
		}
		if got := tr.Rate("k"); math.Abs(got-20) > 0.2 {
			t.Errorf("Rate at a steady 20/s = %v, want 20 ± 1%%", got)
		}
	})

	t.Run("halves_every_half_life", func(t *testing.T) {
		clk := newClock()
		tr := New(Options{HalfLife: time.Minute, Now: clk.Now})
		for range 600 {
			tr.Observe("k", "/k")
			clk.Add(100 * time.Millisecond)
		}
		// Exact decayed count at the time of the last observation plus 100ms.
		lambda := math.Ln2 / 60
		var c float64
		for j := range 600 {
			c += math.Exp2(-float64(j+1) * 0.1 / 60)
		}
		r0 := tr.Rate("k")
		if want := lambda * c; math.Abs(r0-want) > want*1e-4 {
			t.Fatalf("Rate = %v, want %v", r0, want)
		}
		for i := 1; i <= 3; i++ {
			clk.Add(time.Minute)
			got, want := tr.Rate("k"), r0*math.Exp2(-float64(i))
			if math.Abs(got-want) > want*1e-9 {
				t.Errorf("after %d half-lives: Rate = %v, want %v", i, got, want)
			}
		}
		// Ten idle half-lives, then one request: the shard renormalizes and
		// the old count survives, shifted.
		clk.Add(7 * time.Minute)
		before := tr.Rate("k")
		tr.Observe("k", "/k")
		got, want := tr.Rate("k"), before+lambda
		if math.Abs(got-want) > want*1e-3 {
			t.Errorf("after renormalization: Rate = %v, want %v", got, want)
		}
		checkInvariants(t, tr)
	})

	t.Run("clock_backwards", func(t *testing.T) {
		clk := newClock()
		tr := New(Options{Now: clk.Now})
		clk.Add(-time.Hour)
		tr.Observe("k", "/k")
		if got := tr.Rate("k"); got <= 0 || math.IsInf(got, 0) || math.IsNaN(got) {
			t.Errorf("Rate with a clock before the landmark = %v, want a small positive number", got)
		}
	})
}

func TestObserveKeepsFirstURL(t *testing.T) {
	tr := New(Options{})
	tr.Observe("k", "/first")
	tr.Observe("k", "/second")
	if got := tr.Top(1); len(got) != 1 || got[0].URL != "/first" {
		t.Errorf("Top = %+v, want the URL /first", got)
	}
}

// zipfWorkload observes n requests over keys "k0".. drawn from a Zipf
// distribution, one per millisecond, and returns the exact decayed count of
// every key at the end.
func zipfWorkload(tr *Tracker, clk *fakeClock, halfLife time.Duration, n int, keys uint64, seed uint64) map[string]float64 {
	r := rand.New(rand.NewPCG(seed, seed))
	z := rand.NewZipf(r, 1.1, 1, keys-1)
	start := clk.Now()
	times := map[string][]time.Duration{}
	for range n {
		k := fmt.Sprintf("k%d", z.Uint64())
		tr.Observe(k, "/"+k)
		times[k] = append(times[k], clk.Now().Sub(start))
		clk.Add(time.Millisecond)
	}
	end := clk.Now().Sub(start)
	exact := make(map[string]float64, len(times))
	for k, ts := range times {
		for _, at := range ts {
			exact[k] += math.Exp2(-float64(end-at) / float64(halfLife))
		}
	}
	return exact
}

func topExact(exact map[string]float64, n int) []string {
	keys := make([]string, 0, len(exact))
	for k := range exact {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if exact[a] != exact[b] {
			if exact[a] > exact[b] {
				return -1
			}
			return 1
		}
		return 0
	})
	return keys[:n]
}

func TestTopZipf(t *testing.T) {
	clk := newClock()
	const halfLife = 30 * time.Second
	tr := New(Options{Capacity: 1000, HalfLife: halfLife, Now: clk.Now})
	exact := zipfWorkload(tr, clk, halfLife, 300_000, 100_000, 1)

	want := topExact(exact, 10)
	top := tr.Top(10)
	var got []string
	for _, h := range top {
		got = append(got, h.Key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Top(10) = %v\nwant the exact top-10 %v", got, want)
	}
	lambda := math.Ln2 / halfLife.Seconds()
	for _, h := range top {
		if want := lambda * exact[h.Key]; math.Abs(h.Rate-want) > want*1e-3 {
			t.Errorf("Rate(%s) = %v, want %v", h.Key, h.Rate, want)
		}
		if h.URL != "/"+h.Key {
			t.Errorf("URL of %s = %q", h.Key, h.URL)
		}
	}
	if n := checkInvariants(t, tr); n > 1000 {
		t.Errorf("tracked %d keys, capacity 1000", n)
	}
	if st := tr.Stats(); st.Tracked != 1000 || st.Evictions == 0 {
		t.Errorf("Stats = %+v, want 1000 tracked and evictions", st)
	}
}

// A key that becomes hot after the shards are full displaces a cold key
// and reports its own rate, not the displaced key's.
func TestLateHotKeyReportsOwnRate(t *testing.T) {
	clk := newClock()
	tr := New(Options{Capacity: 512, HalfLife: time.Hour, Now: clk.Now})
	for i := range 50_000 {
		k := fmt.Sprintf("cold%d", i%5000)
		tr.Observe(k, "/"+k)
	}
	for range 1000 {
		tr.Observe("late", "/late")
	}
	top := tr.Top(1)
	if len(top) != 1 || top[0].Key != "late" {
		t.Fatalf("Top(1) = %+v, want late", top)
	}
	want := 1000 * math.Ln2 / 3600
	if got := tr.Rate("late"); got > want*1.0001 || got < want*0.99 {
		t.Errorf("Rate(late) = %v, want ≈ %v (its own 1000 requests)", got, want)
	}
}

func TestCapacityUnderScan(t *testing.T) {
	clk := newClock()
	const capacity = 10_000
	tr := New(Options{Capacity: capacity, Now: clk.Now})
	hot := make([]string, 20)
	for i := range hot {
		hot[i] = fmt.Sprintf("hot%d", i)
	}
	for range 500 {
		for _, k := range hot {
			tr.Observe(k, "/"+k)
		}
		clk.Add(10 * time.Millisecond)
	}
	scan := 1_000_000
	if testing.Short() {
		scan = 200_000
	}
	key := make([]byte, 0, 32)
	for i := range scan {
		key = fmt.Appendf(key[:0], "scan/%d", i)
		k := string(key)
		tr.Observe(k, "/"+k)
		if i%100 == 0 {
			clk.Add(time.Millisecond) // the scan takes 10s of a 1m half-life
		}
	}
	if n := checkInvariants(t, tr); n > capacity {
		t.Errorf("tracked %d keys after a scan of %d, capacity %d", n, scan, capacity)
	}
	top := tr.Top(len(hot))
	var got []string
	for _, h := range top {
		got = append(got, h.Key)
	}
	slices.Sort(got)
	want := slices.Clone(hot)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Top(20) after a scan = %v, want the 20 hot keys", got)
	}
	// A one-off scan key never reports more than its one request.
	for _, h := range tr.Top(capacity) {
		if len(h.Key) > 5 && h.Key[:5] == "scan/" && h.Rate > 1.01*math.Ln2/60 {
			t.Fatalf("scan key %s rates %v, more than one request", h.Key, h.Rate)
		}
	}
}

func TestConcurrent(t *testing.T) {
	clk := newClock()
	tr := New(Options{Capacity: 256, HalfLife: time.Second, Now: clk.Now})
	dir := t.TempDir()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprintf("k%d", r.IntN(2000))
				if i%3 == 0 {
					k = "hot"
				}
				tr.Observe(k, "/"+k)
				switch i % 500 {
				case 0:
					tr.Rate("hot")
				case 1:
					tr.Top(10)
				case 2:
					if g == 0 {
						if err := tr.WriteFile(dir+"/hot.jsonl", 50); err != nil {
							t.Error(err)
						}
					}
				}
			}
		})
	}
	wg.Go(func() { // time passes: forces renormalizations mid-flight
		for range 200 {
			clk.Add(700 * time.Millisecond)
			time.Sleep(time.Millisecond)
		}
		close(stop)
	})
	wg.Wait()
	if n := checkInvariants(t, tr); n > 256 {
		t.Errorf("tracked %d keys, capacity 256", n)
	}
	if top := tr.Top(1); len(top) != 1 || top[0].Key != "hot" {
		t.Errorf("Top(1) = %+v, want hot", top)
	}
}

func TestShardSizes(t *testing.T) {
	for _, c := range []int{1, 63, 64, 128, 1000, 10_000, 1_000_000} {
		tr := New(Options{Capacity: c})
		sum := 0
		for _, s := range tr.shards {
			if s.capacity < 1 {
				t.Errorf("Capacity %d: a shard of capacity %d", c, s.capacity)
			}
			sum += s.capacity
		}
		if sum != c || len(tr.shards) > maxShards {
			t.Errorf("Capacity %d: %d shards summing to %d", c, len(tr.shards), sum)
		}
	}
}

func TestWeightMatchesExp2(t *testing.T) {
	const hl = time.Minute
	s := &shard{landmark: time.Unix(0, 0)}
	for i := range 100_000 {
		d := time.Duration(i) * (renormalizeAfter * hl / 100_000)
		got, ok := s.weight(s.landmark.Add(d), 1/float64(hl))
		if !ok {
			t.Fatalf("weight at %v: renormalize, want a weight", d)
		}
		want := math.Exp2(unitShift + float64(d)/float64(hl))
		if math.Abs(float64(got)-want) > want*1e-6+1 {
			t.Fatalf("weight at %v = %d, want %v", d, got, want)
		}
	}
	if _, ok := s.weight(s.landmark.Add(renormalizeAfter*hl), 1/float64(hl)); ok {
		t.Errorf("weight at %d half-lives: want renormalize", renormalizeAfter)
	}
}

func TestObserveNCountsLikeNObservations(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	a := New(Options{Now: clock})
	b := New(Options{Now: clock})
	for range 10 {
		for range 8 {
			a.Observe("k", "/k")
		}
		b.ObserveN("k", "/k", 8)
		now = now.Add(100 * time.Millisecond)
	}
	ra, rb := a.Rate("k"), b.Rate("k")
	if ra == 0 || rb < ra*0.99 || rb > ra*1.01 {
		t.Errorf("Rate after ObserveN = %v, after Observe = %v: want equal", rb, ra)
	}
}
