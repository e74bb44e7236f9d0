package main

import (
	"math"
	"math/rand/v2"
	"sort"
)

// A trace is a sequence of requests for objects 0..len(sizes)-1; each
// object has one size for the whole trace.
type trace struct {
	name  string
	reqs  []int32
	sizes []int32 // body bytes of each object
}

// footprint is the sum of the sizes of the objects the trace requests.
func (t *trace) footprint() int64 {
	seen := make([]bool, len(t.sizes))
	var n int64
	for _, o := range t.reqs {
		if !seen[o] {
			seen[o] = true
			n += int64(t.sizes[o])
		}
	}
	return n
}

// zipfSampler draws ranks 0..n-1 with P(r) proportional to 1/(r+1)^s, for
// any s > 0 (math/rand's Zipf needs s > 1).
type zipfSampler struct {
	cdf []float64
	rng *rand.Rand
}

func newZipf(rng *rand.Rand, n int, s float64) *zipfSampler {
	cdf := make([]float64, n)
	sum := 0.0
	for r := range n {
		sum += 1 / math.Pow(float64(r+1), s)
		cdf[r] = sum
	}
	for r := range cdf {
		cdf[r] /= sum
	}
	return &zipfSampler{cdf: cdf, rng: rng}
}

func (z *zipfSampler) next() int {
	return min(sort.SearchFloat64s(z.cdf, z.rng.Float64()), len(z.cdf)-1)
}

// objectSizes draws n body sizes from a log-normal distribution with a
// median of 2 KiB (σ = 1.2: most API responses are a few hundred bytes to
// some tens of KiB, a few are much larger), clamped to [128 B, 1 MiB].
func objectSizes(rng *rand.Rand, n int) []int32 {
	sizes := make([]int32, n)
	for i := range sizes {
		v := math.Exp(math.Log(2048) + 1.2*rng.NormFloat64())
		sizes[i] = int32(min(max(v, 128), 1<<20))
	}
	return sizes
}

// zipfTrace requests n objects of random sizes with Zipf(s) popularity.
// Popularity ranks are shuffled over object ids, so size and popularity
// are independent.
func zipfTrace(name string, seed uint64, n, length int, s float64) *trace {
	rng := rand.New(rand.NewPCG(seed, 1))
	perm := rng.Perm(n)
	z := newZipf(rng, n, s)
	t := &trace{name: name, sizes: objectSizes(rng, n), reqs: make([]int32, length)}
	for i := range t.reqs {
		t.reqs[i] = int32(perm[z.next()])
	}
	return t
}

// scanTrace is a Zipf(s) trace over n objects polluted by scans: after
// every `every` requests, a scan requests scanLen objects once each, in
// order, that are never requested again (a crawler, an export, a cache
// warm-up of cold data). A policy that admits everything flushes its hot
// set on each scan.
func scanTrace(name string, seed uint64, n, length int, s float64, every, scanLen int) *trace {
	rng := rand.New(rand.NewPCG(seed, 2))
	perm := rng.Perm(n)
	z := newZipf(rng, n, s)
	t := &trace{name: name, sizes: objectSizes(rng, n)}
	t.reqs = make([]int32, 0, length)
	next := int32(n)
	for len(t.reqs) < length {
		for i := 0; i < every && len(t.reqs) < length; i++ {
			t.reqs = append(t.reqs, int32(perm[z.next()]))
		}
		for i := 0; i < scanLen && len(t.reqs) < length; i++ {
			t.reqs = append(t.reqs, next)
			t.sizes = append(t.sizes, objectSizes(rng, 1)[0])
			next++
		}
	}
	return t
}

// nextUse returns, for each position i of reqs, the position of the next
// request for the same object, or len(reqs) if there is none.
func nextUse(reqs []int32, objects int) []int32 {
	next := make([]int32, len(reqs))
	last := make([]int32, objects)
	for i := range last {
		last[i] = int32(len(reqs))
	}
	for i := len(reqs) - 1; i >= 0; i-- {
		o := reqs[i]
		next[i] = last[o]
		last[o] = int32(i)
	}
	return next
}

// equalSizes gives every object of t the same size.
func equalSizes(t *trace, size int32) *trace {
	for i := range t.sizes {
		t.sizes[i] = size
	}
	return t
}
