package natsbus

import (
	"math"
	"sync"
	"time"
)

// maxSenders bounds the streams a Bus remembers (see senders).
const maxSenders = 4096

// never is a moment later than any: "not yet" for listenSince and
// firstJoin.
const never = int64(math.MaxInt64)

// epoch starts this process's monotonic clock, mono.
var epoch = time.Now()

// mono is now on this process's monotonic clock (ns since epoch, > 0).
func mono() int64 { return int64(time.Since(epoch)) + 1 }

// verdict is what a message's number says of its stream.
type verdict int

const (
	inOrder   verdict = iota // the next number (or a tail of the last one): nothing missed
	duplicate                // a purge numbered at or below the last heard: drop it
	skipped                  // a known stream jumped: numbers in between were never heard here
	first                    // an unknown stream, and numbers before this message were never heard here
)

// senders is the last number heard per sending member, for at most max
// members: hearing one more forgets the one heard least recently (an LRU
// list through the entries). Only the subscription's goroutine writes it;
// the mutex is for Stats and tests.
type senders struct {
	mu        sync.Mutex
	byID      map[string]*sender
	ring      sender // sentinel: ring.next is the most recently heard, ring.prev the least
	max       int
	evictedAt int64 // mono of the last time one was forgotten; 0: never
}

type sender struct {
	id         string
	last       uint64
	prev, next *sender
}

func newSenders(max int) *senders {
	s := &senders{byID: make(map[string]*sender), max: max}
	s.ring.prev, s.ring.next = &s.ring, &s.ring
	return s
}

// see records seq from member id (tail: a tail, repeating the stream's
// last number) and says what it shows, with the number heard last before
// (0: none) and, for first, when a stream was last forgotten.
func (s *senders) see(id string, seq uint64, tail bool) (v verdict, was uint64, evictedAt int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.byID[id]; x != nil {
		s.unlink(x)
		s.pushFront(x)
		was = x.last
		switch {
		case seq <= x.last && tail:
			return inOrder, was, 0
		case seq <= x.last:
			return duplicate, was, 0
		case tail || seq != x.last+1:
			x.last = seq
			return skipped, was, 0
		default:
			x.last = seq
			return inOrder, was, 0
		}
	}
	evictedAt = s.evictedAt // when id may have been forgotten: not by the room made for it now
	var x *sender
	if len(s.byID) >= s.max {
		x = s.ring.prev
		s.unlink(x)
		delete(s.byID, x.id)
		s.evictedAt = mono()
	} else {
		x = &sender{}
	}
	x.id, x.last = id, seq
	s.byID[id] = x
	s.pushFront(x)
	if tail || seq > 1 {
		return first, 0, evictedAt
	}
	return inOrder, 0, 0
}

func (s *senders) unlink(x *sender) {
	x.prev.next, x.next.prev = x.next, x.prev
	x.prev, x.next = nil, nil
}

func (s *senders) pushFront(x *sender) {
	x.prev, x.next = &s.ring, s.ring.next
	s.ring.next.prev = x
	s.ring.next = x
}

func (s *senders) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// last returns the last number heard from id, if it is remembered.
func (s *senders) last(id string) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if x := s.byID[id]; x != nil {
		return x.last, true
	}
	return 0, false
}
