package cache

import "math/bits"

// sketch estimates how often each key was requested recently: a count-min
// sketch of 4-bit counters (at most 15), laid out as Caffeine's: the four
// counters of a key lie in one 64-byte block, so an estimate costs one
// cache line. Every period additions it ages, halving every counter, so
// that it follows popularity as it changes.
//
// It is sized for a weighted cache: from the number of entries the byte
// budget is expected to hold (see Memory's policy), not from the entries
// held when the cache is half full, which undercounts them by half (and so
// ages twice as often) when entries differ in size.
//
// A sketch is not safe for concurrent use; the policy's lock guards it.
type sketch struct {
	table     []uint64
	blockMask uint64
	additions int64 // increments that raised at least one counter since the last aging
	period    int64 // additions between agings
	entries   int64 // the capacity it was sized for
}

// sketchPeriod is how many additions, per entry the cache is expected to
// hold, pass between two agings. Caffeine uses 10; tracesim measured 20 as
// better on every trace (a longer memory separates the entries near the
// admission threshold, whose rates are a few requests per period), at no
// cost on the scan trace.
const sketchPeriod = 20

// resize makes the sketch fit entries (rounded up to a power of two, at
// least 64). Growing it forgets every count, as Caffeine's does; it never
// shrinks.
func (s *sketch) resize(entries int64) {
	n := int64(64)
	for n < entries {
		n <<= 1
	}
	if int64(len(s.table)) >= n {
		return
	}
	s.table = make([]uint64, n)
	s.blockMask = uint64(n>>3) - 1
	s.entries = entries
	s.period = sketchPeriod * entries
	s.additions = 0
}

// frequency returns the estimated count of hash, 0 to 15.
func (s *sketch) frequency(hash uint64) int64 {
	if len(s.table) == 0 {
		return 0
	}
	block, counters := s.locate(hash)
	f := uint64(15)
	for i := range uint64(4) {
		h := counters >> (i << 3)
		slot := block + (h & 1) + (i << 1)
		shift := ((h >> 1) & 15) << 2
		f = min(f, (s.table[slot]>>shift)&0xf)
	}
	return int64(f)
}

// increment counts one request for hash and ages the sketch when its
// period is over.
func (s *sketch) increment(hash uint64) {
	if len(s.table) == 0 {
		return
	}
	block, counters := s.locate(hash)
	added := false
	for i := range uint64(4) {
		h := counters >> (i << 3)
		slot := block + (h & 1) + (i << 1)
		shift := ((h >> 1) & 15) << 2
		if (s.table[slot]>>shift)&0xf != 0xf {
			s.table[slot] += 1 << shift
			added = true
		}
	}
	if added {
		s.additions++
		if s.additions >= s.period {
			s.age()
		}
	}
}

// age halves every counter. The additions left are what the halved
// counters still hold: half of them, less the odd counts truncated.
func (s *sketch) age() {
	odd := 0
	for i, w := range s.table {
		odd += bits.OnesCount64(w & 0x1111111111111111)
		s.table[i] = (w >> 1) & 0x7777777777777777
	}
	s.additions = (s.additions - int64(odd>>2)) >> 1
}

// locate returns the block of hash (the index of its first word) and the
// bits that choose its four counters within the block.
func (s *sketch) locate(hash uint64) (block, counters uint64) {
	h := spread(hash)
	c := h * 0x31848bab
	c ^= c >> 14
	return (h & s.blockMask) << 3, c
}

// spread mixes the hash so that the low bits that choose a block depend on
// all of its bits.
func spread(h uint64) uint64 {
	h ^= h >> 17
	h *= 0xed5ad4bb
	h ^= h >> 11
	h *= 0xac4c1b51
	h ^= h >> 15
	return h
}
