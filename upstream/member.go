package upstream

import (
	"net/url"
	"sync/atomic"
	"time"
)

// The states reported by MemberStats.State.
const (
	StateUp      = "up"      // usable (or, after an ejection, on its trial request)
	StateDown    = "down"    // failing its active health checks
	StateEjected = "ejected" // sitting out after passive failures
)

// member is one origin server and its health. Counters are atomics read
// without locks; everything below the line is guarded by Pool.mu.
type member struct {
	url      *url.URL
	host     string // url.Host, the default Host header
	weight   int
	backup   bool
	maxConns int64
	seed     uint64 // rendezvous hashing seed, from the URL

	// inFlight is incremented under Pool.mu (so MaxConns is never exceeded)
	// and decremented without it when a response body is done.
	inFlight  atomic.Int64
	requests  atomic.Uint64
	failures  atomic.Uint64
	ejections atomic.Uint64

	// guarded by Pool.mu
	current      int  // smooth weighted round robin state
	down         bool // active health checks verdict
	rise, fall   int  // consecutive probe successes, failures
	ejected      bool
	ejectedUntil time.Time
	trial        bool // the one trial request after a sit-out is in flight
	fails        int  // passive failures in the window opened at windowStart
	windowStart  time.Time
	lastErr      string
	lastChange   time.Time
}

// state is the member's state at now; the caller holds Pool.mu.
func (m *member) state(now time.Time) string {
	switch {
	case m.down:
		return StateDown
	case m.ejected && (m.trial || now.Before(m.ejectedUntil)):
		return StateEjected
	}
	return StateUp
}

// usable reports whether m may be picked, at a time now computed only if
// needed; the caller holds Pool.mu.
func (m *member) usable(now func() time.Time) bool {
	if m.down {
		return false
	}
	return !m.ejected || (!m.trial && !now().Before(m.ejectedUntil))
}

// MemberStats is a snapshot of one member.
type MemberStats struct {
	URL        string
	Backup     bool
	Weight     int
	State      string // StateUp, StateDown or StateEjected
	InFlight   int64  // requests sent whose response body is not done
	Requests   uint64 // requests sent (retries count once per member tried)
	Failures   uint64 // transport errors and failure statuses (Passive.Statuses)
	Ejections  uint64 // passive ejections, including failed trials
	LastError  string // the last failure or failed probe, "" if none
	LastChange time.Time
}
