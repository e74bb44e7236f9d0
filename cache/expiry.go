package cache

// expiryHeap orders a Memory tier's nodes by the time they expire, the
// soonest first, so that expired entries are dropped without a walk over
// the tier. Each node knows its index (heapAt, -1 when not in the heap), so
// that a node removed for another reason leaves the heap in O(log n).
//
// It is not safe for concurrent use: Memory.mu guards it.
type expiryHeap []*node

// push adds n.
func (h *expiryHeap) push(n *node) {
	n.heapAt = int32(len(*h))
	*h = append(*h, n)
	h.up(len(*h) - 1)
}

// remove takes n out of the heap if it is in it.
func (h *expiryHeap) remove(n *node) {
	i := int(n.heapAt)
	if i < 0 {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	n.heapAt = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
}

// expired returns the node that expires first if it has expired by now
// (coarse clock nanoseconds), or nil.
func (h expiryHeap) expired(now int64) *node {
	if len(h) == 0 || h[0].expires > now {
		return nil
	}
	return h[0]
}

func (h expiryHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapAt, h[j].heapAt = int32(i), int32(j)
}

func (h expiryHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h[p].expires <= h[i].expires {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h expiryHeap) down(i int) {
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if r := c + 1; r < len(h) && h[r].expires < h[c].expires {
			c = r
		}
		if h[i].expires <= h[c].expires {
			return
		}
		h.swap(i, c)
		i = c
	}
}
