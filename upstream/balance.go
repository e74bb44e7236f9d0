package upstream

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// pick chooses a member for a request whose hash is key, skipping the members
// in tried, and counts the request in its in-flight count. trial reports that
// the request is the one trial of a member back from ejection.
//
// Primaries are preferred; backups are considered only when no primary can
// take the request. The error is ErrNoHealthy when no member is usable at
// all, ErrBusy when the usable ones are at MaxConns, and errExhausted when
// the usable ones were all tried.
func (p *Pool) pick(key uint64, tried []*member) (m *member, trial bool, err error) {
	var now time.Time
	clock := func() time.Time {
		if now.IsZero() {
			now = p.now()
		}
		return now
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	usable, untried := false, false
	for _, tier := range [2][]*member{p.primaries, p.backups} {
		cands := p.scratch[:0]
		for _, c := range tier {
			if !c.usable(clock) {
				continue
			}
			usable = true
			if slices.Contains(tried, c) {
				continue
			}
			untried = true
			if c.maxConns > 0 && c.inFlight.Load() >= c.maxConns {
				continue
			}
			cands = append(cands, c)
		}
		if len(cands) == 0 {
			continue
		}
		m = p.choose(cands, key)
		clear(cands) // drop the pointers from the reused array
		m.inFlight.Add(1)
		m.requests.Add(1)
		if m.ejected {
			m.trial = true
		}
		return m, m.trial, nil
	}
	switch {
	case !usable:
		return nil, false, ErrNoHealthy
	case !untried:
		return nil, false, errExhausted
	}
	return nil, false, ErrBusy
}

// choose applies the balance to the non-empty candidates; the caller holds mu.
func (p *Pool) choose(cands []*member, key uint64) *member {
	if len(cands) == 1 {
		return cands[0]
	}
	switch p.balance {
	case LeastConn:
		return leastConn(cands)
	case Random2:
		return randomTwo(cands)
	case Hash:
		return rendezvous(cands, key)
	case First:
		return cands[0]
	}
	return smoothWeighted(cands)
}

// smoothWeighted is nginx's smooth weighted round robin
// (ngx_http_upstream_get_peer): each candidate's current weight grows by its
// weight, the largest wins and is lowered by the total. Over any run of
// sum(weights) picks each member gets exactly its weight, interleaved.
func smoothWeighted(cands []*member) *member {
	var best *member
	total := 0
	for _, c := range cands {
		c.current += c.weight
		total += c.weight
		if best == nil || c.current > best.current {
			best = c
		}
	}
	best.current -= total
	return best
}

// lessLoaded reports whether a has fewer in-flight requests per unit of
// weight than b (cross-multiplied: no division, no float).
func lessLoaded(a, b *member, aLoad, bLoad int64) bool {
	return aLoad*int64(b.weight) < bLoad*int64(a.weight)
}

// leastConn picks the least loaded candidate per unit of weight; ties go
// through smooth weighted round robin, as nginx's least_conn does.
func leastConn(cands []*member) *member {
	best, bestLoad := cands[0], cands[0].inFlight.Load()
	for _, c := range cands[1:] {
		if load := c.inFlight.Load(); lessLoaded(c, best, load, bestLoad) {
			best, bestLoad = c, load
		}
	}
	// Loads only fall outside mu (increments happen under it), so best
	// stays among the ties kept here.
	ties := cands[:0]
	for _, c := range cands {
		if !lessLoaded(best, c, bestLoad, c.inFlight.Load()) {
			ties = append(ties, c)
		}
	}
	if len(ties) == 1 {
		return ties[0]
	}
	return smoothWeighted(ties)
}

// randomTwo draws two distinct candidates in proportion to their weights and
// returns the less loaded one ("the power of two choices").
func randomTwo(cands []*member) *member {
	total := 0
	for _, c := range cands {
		total += c.weight
	}
	a := weightedDraw(cands, total, nil)
	b := weightedDraw(cands, total-a.weight, a)
	if lessLoaded(b, a, b.inFlight.Load(), a.inFlight.Load()) {
		return b
	}
	return a
}

// weightedDraw draws a candidate other than skip; total is the sum of the
// weights of the others.
func weightedDraw(cands []*member, total int, skip *member) *member {
	n := rand.IntN(total)
	for _, c := range cands {
		if c == skip {
			continue
		}
		if n < c.weight {
			return c
		}
		n -= c.weight
	}
	panic("upstream: weightedDraw: weights changed during a draw")
}

// rendezvous is weighted highest-random-weight hashing: each candidate scores
// weight / -ln(u), u uniform in (0,1) from the key and the member's seed, and
// the highest score wins. A member's score for a key does not depend on the
// other members, so removing one moves only the keys it won.
func rendezvous(cands []*member, key uint64) *member {
	var best *member
	bestScore := math.Inf(-1)
	for _, c := range cands {
		h := mix(key ^ c.seed)
		u := (float64(h>>11) + 0.5) / (1 << 53)
		score := float64(c.weight) / -math.Log(u)
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return best
}

// mix is the splitmix64 finalizer: it spreads the bits of key^seed so that
// nearby keys give unrelated scores.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashKey is FNV-1a of the escaped path, "?" and the raw query, computed
// without allocating.
func hashKey(path, query string) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037)
	for i := 0; i < len(path); i++ {
		h = (h ^ uint64(path[i])) * prime
	}
	if query != "" {
		h = (h ^ '?') * prime
		for i := 0; i < len(query); i++ {
			h = (h ^ uint64(query[i])) * prime
		}
	}
	return h
}
