package cache

import "math/rand/v2"

// policy decides what a Memory tier keeps within its byte budget: a
// size-aware W-TinyLFU (Einziger, Friedman, Manes, "TinyLFU: A Highly
// Efficient Cache Admission Policy", 2017; the weighted variant after
// Einziger, Eytan, Friedman, Manes, "Lightweight Robust Size Aware Cache
// Management", 2022).
//
// New entries enter a small LRU window. The window's least recent entry
// leaves it as a candidate for the main space (a segmented LRU: probation,
// then protected once hit there). If the main space has no room, the
// candidate is admitted only if its estimated frequency (a sketch counts
// requests, hits and misses, over a recent period) is higher than the sum
// of the frequencies of ALL the victims it would displace, taken from the
// least recent end of probation, then of protected. Comparing it with one
// victim, as a size-blind TinyLFU does, lets one large entry push out many
// small ones that are each requested about as often, and so lose hits;
// with the sum, what is kept tends to the most requests per byte, the
// static optimum of a stationary workload.
//
// The window makes the policy keep what was requested recently even if
// not yet often (bursts, new content), and scans pass through it without
// reaching the main space, since a one-time entry does not outweigh its
// victims. Its share of the budget (1% at first) adapts by hill climbing,
// as Caffeine's: every sample of requests, the window grows or shrinks by
// a step in the direction that raised the hit ratio, so that a workload
// that rewards recency (where an LRU does well) gets a larger window.
//
// The policy is not safe for concurrent use: Memory holds its lock around
// every call. It never touches the store itself: evict asks Memory to
// remove an entry.
type policy struct {
	maximum      int64 // the byte budget
	windowMax    int64
	protectedMax int64
	window       queue
	probation    queue
	protected    queue
	sketch       sketch
	entries      int64
	// Sizing the sketch: the mean weight of the entries added.
	added, addedBytes int64
	// The hill climber's sample.
	hits, misses int64
	sample       int64
	previousRate float64
	step         float64
	// evict removes n from the store; n has left the policy already.
	evict func(n *node)
}

const (
	initialWindow  = 0.01 // of the budget
	minWindow      = 0.01
	maxWindow      = 0.80
	protectedShare = 0.80 // of the main space
	// climbStep is the window's first step, a share of the budget; each
	// step is 0.98 times the previous one until the hit ratio moves by
	// climbRestart, which restarts the climb. Caffeine steps by 6.25% every
	// 10 × entries requests; tracesim measured this smaller, slower climb
	// as steadier on the scan trace (a scan makes the hit ratio jump, and
	// each jump moved the window by a large step) and as good elsewhere.
	climbStep    = 0.03
	climbDecay   = 0.98
	climbRestart = 0.05
	climbSample  = 20 // requests per entry in one sample
	// A candidate at least this frequent is admitted at random once in
	// 128 times even against more frequent victims, as in Caffeine: an
	// attacker who keeps a few victims hot would otherwise lock every new
	// entry out of the main space (a hash-flooding defence).
	admitAtRandomFrequency = 6
)

func newPolicy(maximum int64, evict func(*node)) *policy {
	p := &policy{maximum: maximum, evict: evict}
	p.windowMax = int64(initialWindow * float64(maximum))
	p.protectedMax = int64(protectedShare * float64(maximum-p.windowMax))
	p.step = -climbStep * float64(maximum)
	return p
}

// count records a request for n in the sketch. The sketch is made when
// the cache is half full (resizeSketch): until then nothing is evicted.
func (p *policy) count(n *node) {
	if len(p.sketch.table) > 0 {
		p.sketch.increment(uint64(n.hash))
	}
}

// weightedSize is the bytes of the entries in the policy.
func (p *policy) weightedSize() int64 {
	return p.window.bytes + p.probation.bytes + p.protected.bytes
}

// access records a hit on n.
func (p *policy) access(n *node) {
	if n.queue == inNone {
		return // removed since the hit
	}
	p.count(n)
	p.hits++
	switch n.queue {
	case inWindow:
		p.window.moveToBack(n)
	case inProbation:
		if int64(n.weight) > p.protectedMax {
			p.probation.moveToBack(n)
			break
		}
		p.probation.remove(n)
		p.protected.pushBack(n, inProtected)
		p.demoteProtected()
	case inProtected:
		p.protected.moveToBack(n)
	}
	p.climb()
}

// add puts a new entry in the window (a miss was just filled) and evicts
// what no longer fits.
func (p *policy) add(n *node) {
	p.entries++
	p.added++
	p.addedBytes += int64(n.weight)
	p.resizeSketch()
	p.count(n)
	p.misses++
	if int64(n.weight) > p.windowMax {
		// It cannot fit in the window: it is the next candidate.
		p.window.pushFront(n, inWindow)
	} else {
		p.window.pushBack(n, inWindow)
	}
	p.evictEntries()
	p.climb()
}

// remove takes n out of the policy (it left the store by itself: Delete,
// replacement, expiry).
func (p *policy) remove(n *node) {
	if p.unlink(n) {
		p.entries--
	}
}

func (p *policy) unlink(n *node) bool {
	switch n.queue {
	case inWindow:
		p.window.remove(n)
	case inProbation:
		p.probation.remove(n)
	case inProtected:
		p.protected.remove(n)
	default:
		return false
	}
	return true
}

// drop evicts n for size.
func (p *policy) drop(n *node) {
	p.remove(n)
	p.evict(n)
}

// resizeSketch sizes the sketch, once the cache is half full, for the
// entries the budget holds at the mean weight of those added, or for those
// it holds if more.
func (p *policy) resizeSketch() {
	if len(p.sketch.table) > 0 && p.added&63 != 0 || p.weightedSize() < p.maximum/2 {
		return
	}
	expected := max(p.maximum/max(p.addedBytes/p.added, 1), p.entries)
	if expected > int64(len(p.sketch.table)) {
		p.sketch.resize(expected)
	}
}

// evictEntries moves the window's overflow to the main space through
// admission, then evicts until the entries fit the budget.
func (p *policy) evictEntries() {
	for p.window.bytes > p.windowMax && p.window.head != nil {
		c := p.window.head
		p.window.remove(c)
		p.admit(c)
	}
	for p.weightedSize() > p.maximum {
		switch {
		case p.probation.head != nil:
			p.drop(p.probation.head)
		case p.protected.head != nil:
			p.drop(p.protected.head)
		default:
			p.drop(p.window.head)
		}
	}
}

// admit decides whether c, out of the window, enters the main space.
func (p *policy) admit(c *node) {
	mainMax := p.maximum - p.windowMax
	need := p.probation.bytes + p.protected.bytes + int64(c.weight) - mainMax
	if need <= 0 {
		p.probation.pushBack(c, inProbation)
		return
	}
	if !p.outweighs(c, need) {
		p.entries--
		p.evict(c)
		return
	}
	p.probation.pushBack(c, inProbation)
	for p.probation.bytes+p.protected.bytes > mainMax {
		if v := p.probation.head; v != nil && v != c {
			p.drop(v)
		} else if v := p.protected.head; v != nil {
			p.drop(v)
		} else {
			break
		}
	}
}

// outweighs reports whether c is requested more often than all the
// victims that free need bytes together: the least recent of probation,
// then of protected.
func (p *policy) outweighs(c *node, need int64) bool {
	cf := p.sketch.frequency(uint64(c.hash))
	var vf, freed int64
	for _, q := range [...]*queue{&p.probation, &p.protected} {
		for v := q.head; v != nil && freed < need && vf < cf; v = v.next {
			vf += p.sketch.frequency(uint64(v.hash))
			freed += int64(v.weight)
		}
	}
	if cf > vf {
		return true
	}
	return cf >= admitAtRandomFrequency && rand.Uint32()&127 == 0
}

// demoteProtected moves protected's least recent entries to probation
// until protected fits its share.
func (p *policy) demoteProtected() {
	for p.protected.bytes > p.protectedMax && p.protected.head != nil {
		d := p.protected.head
		p.protected.remove(d)
		p.probation.pushBack(d, inProbation)
	}
}

// climb moves the window's share of the budget by one step when a sample
// of requests is complete: in the same direction as the last step if the
// hit ratio rose, in the other if it fell.
func (p *policy) climb() {
	if p.sample == 0 {
		p.sample = climbSample * max(p.entries, 1024)
	}
	// Until the cache is half full it evicts nothing, and the hit ratio
	// says nothing of the split: the sample goes on.
	if p.hits+p.misses < p.sample || p.weightedSize() < p.maximum/2 {
		return
	}
	rate := float64(p.hits) / float64(p.hits+p.misses)
	p.hits, p.misses = 0, 0
	p.sample = climbSample * max(p.entries, 1024)
	change := rate - p.previousRate
	p.previousRate = rate
	amount := p.step
	if change < 0 {
		amount = -p.step
	}
	if change >= climbRestart || change <= -climbRestart {
		p.step = climbStep * float64(p.maximum)
		if amount < 0 {
			p.step = -p.step
		}
	} else {
		p.step = climbDecay * amount
	}
	p.windowMax = min(max(p.windowMax+int64(amount), int64(minWindow*float64(p.maximum))), int64(maxWindow*float64(p.maximum)))
	p.protectedMax = int64(protectedShare * float64(p.maximum-p.windowMax))
	p.demoteProtected()
	p.evictEntries()
}

// Queues of the policy; a node is in at most one.
const (
	inNone uint8 = iota
	inWindow
	inProbation
	inProtected
)

// queue is an intrusive doubly linked list of nodes, least recent first,
// with the sum of their weights.
type queue struct {
	head, tail *node
	bytes      int64
}

func (q *queue) pushBack(n *node, in uint8) {
	n.prev, n.next, n.queue = q.tail, nil, in
	if q.tail != nil {
		q.tail.next = n
	} else {
		q.head = n
	}
	q.tail = n
	q.bytes += int64(n.weight)
}

func (q *queue) pushFront(n *node, in uint8) {
	n.prev, n.next, n.queue = nil, q.head, in
	if q.head != nil {
		q.head.prev = n
	} else {
		q.tail = n
	}
	q.head = n
	q.bytes += int64(n.weight)
}

func (q *queue) remove(n *node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		q.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		q.tail = n.prev
	}
	n.prev, n.next, n.queue = nil, nil, inNone
	q.bytes -= int64(n.weight)
}

func (q *queue) moveToBack(n *node) {
	if q.tail == n {
		return
	}
	in := n.queue
	q.remove(n)
	q.pushBack(n, in)
}
