package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBuckets per power of two. Each power-of-two range [2^k, 2^(k+1)) is
// split into 128 equal buckets, so a bucket is at most 1/128 of the values
// it holds: reporting its midpoint is within 0.4% of any of them.
const (
	subBits    = 7
	subBuckets = 1 << subBits
	// numBuckets covers every non-negative int64 nanosecond count.
	numBuckets = (64 - subBits) * subBuckets
)

// histogram is a log-linear (HDR-style) latency histogram. Its memory is
// fixed (about 58 KiB) however many values it records. The zero value is
// ready to use; it is not safe for concurrent use, so each worker owns one
// and they are merged at the end.
type histogram struct {
	counts [numBuckets]int64
	total  int64
	max    time.Duration
}

// bucketOf maps v to its bucket. Values below subBuckets get a bucket each;
// above, the top subBits+1 significant bits of v select the bucket.
func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bucketRange returns the smallest and largest values of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < subBuckets {
		return uint64(i), uint64(i)
	}
	shift := i/subBuckets - 1
	mantissa := uint64(i%subBuckets + subBuckets)
	return mantissa << shift, (mantissa+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	h.total++
	h.max = max(h.max, d)
}

func (h *histogram) merge(o *histogram) {
	for i, n := range o.counts {
		h.counts[i] += n
	}
	h.total += o.total
	h.max = max(h.max, o.max)
}

// quantile returns the value at or below which a fraction q of the recorded
// values lie (the nearest-rank definition), to within 0.4%. It never
// exceeds the largest recorded value, and is 0 when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	// The epsilon keeps 0.99*100 from rounding up to rank 100.
	rank := max(int64(math.Ceil(q*float64(h.total)-1e-9)), 1)
	var seen int64
	for i, n := range h.counts {
		if seen += n; seen >= rank {
			lo, hi := bucketRange(i)
			return min(time.Duration(lo+(hi-lo)/2), h.max)
		}
	}
	return h.max
}
