package cache

import (
	"sync/atomic"
	"unsafe"
)

// hitBuffer records hits for the policy without a lock: a Get appends the
// node it found, and the holder of Memory.mu replays the buffer into the
// policy. It is lossy, as Caffeine's read buffers: a hit is dropped when
// its stripe is full or another Get wins the slot. Losing some hits only
// blurs the frequencies and recency the policy sees; taking a lock on
// every hit would serialize the gateway's hot path.
//
// A Get's stripe is chosen by the address of its goroutine's stack, as
// otter's read buffers do: it is stable while the goroutine runs and
// differs between goroutines running at once, so Gets on different cores
// seldom write to the same stripe, even for one hot key.
type hitBuffer struct {
	stripes [hitStripes]hitStripe
}

const (
	hitStripeBits = 4
	hitStripes    = 1 << hitStripeBits
	hitSlots      = 64 // per stripe, a power of two
)

// hitStripe keeps its counters on a cache line of their own: the
// producer writes tail, the drainer head and the slots.
type hitStripe struct {
	tail  atomic.Uint32 // the next slot to write
	head  atomic.Uint32 // the next slot to read; only the drainer stores it
	_     [56]byte
	slots [hitSlots]atomic.Pointer[node]
}

// add appends n, or returns its stripe if that is full (n is dropped).
func (b *hitBuffer) add(n *node) (full *hitStripe) {
	s := &b.stripes[stackStripe()]
	t := s.tail.Load()
	if t-s.head.Load() >= hitSlots {
		return s
	}
	// Lost to a concurrent add: drop this hit, it is lossy.
	if s.tail.CompareAndSwap(t, t+1) {
		s.slots[t&(hitSlots-1)].Store(n)
	}
	return nil
}

// drain replays all the buffered hits into p. Only one goroutine may
// drain at a time (Memory.mu).
func (b *hitBuffer) drain(p *policy) {
	for i := range b.stripes {
		b.stripes[i].drain(p)
	}
}

// drain replays the stripe's hits into p: at most hitSlots, so that the
// Get that finds its stripe full pays for no more (about a microsecond).
func (s *hitStripe) drain(p *policy) {
	h, t := s.head.Load(), s.tail.Load()
	for ; h != t; h++ {
		// nil: an add has claimed the slot but not written it yet; it is
		// read at the next drain.
		n := s.slots[h&(hitSlots-1)].Swap(nil)
		if n == nil {
			break
		}
		p.access(n)
	}
	s.head.Store(h)
}

// stackStripe hashes the calling goroutine's stack address to a stripe.
// The bits below the smallest stack (2 KiB) depend on the call depth, not
// on the goroutine, and are dropped; stacks are aligned to their size, so
// the upper bits are mixed down by the multiplication.
func stackStripe() uint32 {
	var x byte
	h := uint64(uintptr(unsafe.Pointer(&x))>>11) * 0x9e3779b97f4a7c15
	return uint32(h >> (64 - hitStripeBits))
}
