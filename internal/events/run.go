package events

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/events/mapping"
)

// Apply applies one purge mapped from an event (gateway.Handler.ApplyEvent
// of the configuration serving).
type Apply func(ctx context.Context, p gateway.Purge) (gateway.PurgeResult, error)

// Options configure a Runner.
type Options struct {
	// Apply is required.
	Apply Apply
	// Dedupe is how many recent event IDs are remembered (per Runner, all
	// sources together). Default 100000.
	Dedupe int
	// Logger, if nil, discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Runner runs the sources of a node: it maps each message a source
// delivers (mapping.Mapper), drops the event IDs it applied lately,
// applies the purges and counts everything per source. Close stops every
// source and waits for it.
type Runner struct {
	o       Options
	log     *slog.Logger
	seen    *idRing
	sources []*running
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

// running is one source and its counters.
type running struct {
	name, kind string
	src        Source
	mapper     *mapping.Mapper
	received   atomic.Int64
	applied    atomic.Int64 // events whose purges were applied
	purges     atomic.Int64
	affected   atomic.Int64
	duplicates atomic.Int64
	failed     atomic.Int64                 // deliveries that failed (retried by the source)
	dead       [numDeadReasons]atomic.Int64 // dead letters, by reason
	lastEvent  atomic.Int64                 // UnixNano of the last event received
	lastDead   atomic.Pointer[string]
}

// Dead-letter reasons: the event could not be read, no rule mapped it, a
// rule's template failed or made an invalid item, or the gateway refused
// the purge (a route this configuration does not have).
const (
	deadParse = iota
	deadUnmapped
	deadInvalid
	deadRejected
	numDeadReasons
)

// DeadReasons name the dead-letter reasons in metrics and stats.
var DeadReasons = [numDeadReasons]string{"parse", "unmapped", "invalid", "rejected"}

// NewRunner returns a Runner with no source.
func NewRunner(o Options) *Runner {
	if o.Dedupe <= 0 {
		o.Dedupe = 100_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{o: o, log: log, seen: newIDRing(o.Dedupe)}
}

// Add adds a source, before Start.
func (r *Runner) Add(name, kind string, m *mapping.Mapper, src Source) {
	r.sources = append(r.sources, &running{name: name, kind: kind, src: src, mapper: m})
}

// Start runs every source on a goroutine of its own.
func (r *Runner) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	for _, s := range r.sources {
		r.wg.Go(func() {
			if err := s.src.Run(ctx, func(ctx context.Context, m Message) error { return r.deliver(ctx, s, m) }); err != nil {
				r.log.Error("event source stopped", "source", s.name, "kind", s.kind, "err", err)
			}
		})
	}
}

// Close stops the sources (each commits what it applied) and waits for
// them. It is idempotent.
func (r *Runner) Close() {
	r.once.Do(func() {
		if r.cancel != nil {
			r.cancel()
		}
		r.wg.Wait()
	})
}

// deliver maps and applies one message (see Deliver).
func (r *Runner) deliver(ctx context.Context, s *running, m Message) error {
	s.received.Add(1)
	s.lastEvent.Store(r.o.Now().UnixNano())
	res, err := s.mapper.Map(m)
	if err != nil {
		reason := deadInvalid
		switch {
		case errors.Is(err, mapping.ErrParse):
			reason = deadParse
		case errors.Is(err, mapping.ErrUnmapped):
			reason = deadUnmapped
		}
		r.deadLetter(s, reason, m, err)
		return nil
	}
	var dedupeKey string
	if res.ID != "" {
		dedupeKey = s.name + "\x00" + res.ID
		if r.seen.has(dedupeKey) {
			s.duplicates.Add(1)
			return nil
		}
	}
	rejected := 0
	for i, mp := range res.Purges {
		p := gateway.Purge{Tags: mp.Tags, URLs: mp.URLs, Prefixes: mp.Prefixes, Routes: mp.Routes, All: mp.All, Soft: mp.Soft}
		if res.ID != "" {
			// The same ID on every node: a node that heard this purge on
			// the Bus takes a redelivery of the event as a duplicate.
			p.ID = "event:" + s.name + ":" + res.ID + ":" + strconv.Itoa(i)
		}
		pr, err := r.o.Apply(ctx, p)
		if errors.Is(err, gateway.ErrBadPurge) && len(p.Routes) > 0 {
			// A route this configuration does not have (a reload removed
			// it): counted, and the rest of the purge still applies.
			r.deadLetter(s, deadRejected, m, err)
			p.Routes = nil
			if p.Empty() {
				rejected++
				continue
			}
			pr, err = r.o.Apply(ctx, p)
		}
		switch {
		case errors.Is(err, gateway.ErrBadPurge):
			r.deadLetter(s, deadRejected, m, err)
			rejected++
			continue
		case err != nil:
			// Not applied, or applied here but not shared with the fleet
			// (L2 or the versions store refused it): not acknowledged, so
			// the source delivers it again; the gateway does not take the
			// retry for a duplicate.
			s.failed.Add(1)
			return err
		}
		if pr.Duplicate {
			// This node heard the purge on the Bus (another node read the
			// event first): nothing to apply again.
			s.duplicates.Add(1)
			continue
		}
		s.purges.Add(1)
		s.affected.Add(int64(pr.Affected))
	}
	if dedupeKey != "" {
		r.seen.add(dedupeKey)
	}
	if rejected < len(res.Purges) {
		s.applied.Add(1)
	}
	return nil
}

func (r *Runner) deadLetter(s *running, reason int, m Message, err error) {
	s.dead[reason].Add(1)
	msg := DeadReasons[reason] + ": " + err.Error()
	s.lastDead.Store(&msg)
	r.log.Debug("event not applied", "source", s.name, "reason", DeadReasons[reason], "topic", m.Topic, "id", m.TransportID, "err", err)
}

// SourceStats are one source's health and counters.
type SourceStats struct {
	Name       string           `json:"name"`
	Kind       string           `json:"kind"`
	Status     Status           `json:"status"`
	Received   int64            `json:"received"`
	Applied    int64            `json:"applied"`
	Purges     int64            `json:"purges"`
	Affected   int64            `json:"affected"`
	Duplicates int64            `json:"duplicates"`
	Failed     int64            `json:"failed"`
	Dead       map[string]int64 `json:"dead_letters"`
	LastDead   string           `json:"last_dead_letter,omitempty"`
	LastEvent  time.Time        `json:"last_event,omitzero"`
}

// Stats returns every source's stats, in the order they were added.
func (r *Runner) Stats() []SourceStats {
	out := make([]SourceStats, 0, len(r.sources))
	for _, s := range r.sources {
		st := SourceStats{Name: s.name, Kind: s.kind, Status: s.src.Status(), Received: s.received.Load(),
			Applied: s.applied.Load(), Purges: s.purges.Load(), Affected: s.affected.Load(),
			Duplicates: s.duplicates.Load(), Failed: s.failed.Load(), Dead: map[string]int64{}}
		for i, name := range DeadReasons {
			st.Dead[name] = s.dead[i].Load()
		}
		if p := s.lastDead.Load(); p != nil {
			st.LastDead = *p
		}
		if at := s.lastEvent.Load(); at != 0 {
			st.LastEvent = time.Unix(0, at)
		}
		out = append(out, st)
	}
	return out
}

// idRing remembers the last n IDs (a ring and a set): bounded memory
// whatever the streams carry.
type idRing struct {
	mu   sync.Mutex
	set  map[string]struct{}
	ring []string
	next int
}

func newIDRing(n int) *idRing {
	return &idRing{set: make(map[string]struct{}, min(n, 4096)), ring: make([]string, n)}
}

func (s *idRing) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.set[id]
	return ok
}

func (s *idRing) add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.set[id]; ok {
		return
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.set, old)
	}
	s.ring[s.next] = id
	s.set[id] = struct{}{}
	s.next = (s.next + 1) % len(s.ring)
}
