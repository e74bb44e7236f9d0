package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestBucketsTileTheRange(t *testing.T) {
	for i := range numBuckets - 1 {
		_, hi := bucketRange(i)
		if lo, _ := bucketRange(i + 1); lo != hi+1 {
			t.Fatalf("bucket %d ends at %d but bucket %d starts at %d", i, hi, i+1, lo)
		}
	}
	if _, hi := bucketRange(numBuckets - 1); hi != math.MaxInt64 {
		t.Errorf("last bucket ends at %d, want %d", hi, int64(math.MaxInt64))
	}
}

func TestBucketOf(t *testing.T) {
	values := []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 - 1, 123_456_789, math.MaxInt64}
	for _, v := range values {
		checkBucket(t, v)
	}
}

func checkBucket(t *testing.T, v uint64) {
	t.Helper()
	i := bucketOf(v)
	if i < 0 || i >= numBuckets {
		t.Fatalf("bucketOf(%d) = %d, outside 0..%d", v, i, numBuckets-1)
	}
	lo, hi := bucketRange(i)
	if v < lo || v > hi {
		t.Errorf("bucketOf(%d) = %d covering %d..%d", v, i, lo, hi)
	}
	if width := float64(hi - lo + 1); width > 1 && width/float64(lo) > 1.0/subBuckets {
		t.Errorf("bucket %d (%d..%d) is wider than 1/%d of its values", i, lo, hi, subBuckets)
	}
}

func FuzzBucketOf(f *testing.F) {
	f.Add(uint64(0))
	f.Add(uint64(1000))
	f.Fuzz(func(t *testing.T, v uint64) {
		checkBucket(t, v&math.MaxInt64)
	})
}

func TestQuantile(t *testing.T) {
	ms, us := time.Millisecond, time.Microsecond
	series := func(n int, unit time.Duration) []time.Duration {
		var d []time.Duration
		for i := 1; i <= n; i++ {
			d = append(d, time.Duration(i)*unit)
		}
		return d
	}
	repeat := func(n int, d time.Duration) []time.Duration {
		var s []time.Duration
		for range n {
			s = append(s, d)
		}
		return s
	}
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single", []time.Duration{42 * ms}, 0.99, 42 * ms},
		{"small_values_exact_p50", series(100, 1), 0.5, 50},
		{"small_values_exact_p99", series(100, 1), 0.99, 99},
		{"uniform_p50", series(10_000, us), 0.50, 5000 * us},
		{"uniform_p90", series(10_000, us), 0.90, 9000 * us},
		{"uniform_p99", series(10_000, us), 0.99, 9900 * us},
		{"uniform_p100", series(10_000, us), 1, 10_000 * us},
		{"uniform_p0", series(10_000, us), 0, 1 * us},
		{"bimodal_p90", append(repeat(90, ms), repeat(10, 100*ms)...), 0.90, ms},
		{"bimodal_p91", append(repeat(90, ms), repeat(10, 100*ms)...), 0.91, 100 * ms},
		{"seconds", series(100, time.Second), 0.5, 50 * time.Second},
		{"negative_is_zero", []time.Duration{-time.Second}, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			got := h.quantile(tt.q)
			if diff := math.Abs(float64(got - tt.want)); diff > float64(tt.want)*0.005 {
				t.Errorf("quantile(%v): got %v, want %v within 0.5%%", tt.q, got, tt.want)
			}
		})
	}
}

func TestMerge(t *testing.T) {
	var whole, a, b histogram
	for i := 1; i <= 1000; i++ {
		d := time.Duration(i) * time.Millisecond
		whole.record(d)
		if i%2 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	if a != whole {
		t.Errorf("merged halves differ from the whole: total %d/%d, max %v/%v", a.total, whole.total, a.max, whole.max)
	}
}

func BenchmarkRecord(b *testing.B) {
	var h histogram
	b.ReportAllocs()
	d := time.Duration(0)
	for b.Loop() {
		d += 997 * time.Nanosecond
		h.record(d % time.Second)
	}
}
