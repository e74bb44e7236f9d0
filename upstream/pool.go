package upstream

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Pool is a set of origin servers used as one http.RoundTripper. Create it
// with New, call Start to run active health checks, and Close when done.
type Pool struct {
	name      string
	label     string // `pool "name" ` in error messages, "" when unnamed
	balance   Balance
	transport http.RoundTripper
	owned     *http.Transport // built by New; Close closes its idle connections
	health    HealthCheck
	healthy   statusSet // statuses of a successful probe
	failing   statusSet // statuses counted as passive failures
	maxFails  int       // <0: passive ejection disabled
	failFor   time.Duration
	retries   int
	log       *slog.Logger
	now       func() time.Time

	primaries, backups []*member
	all                []*member // listed order

	// mu guards the members' health state and the pickers' state. It is
	// never held across I/O.
	mu      sync.Mutex
	scratch []*member // candidates of the current pick, reused under mu

	life    sync.Mutex // orders Start and Close
	started bool
	closed  bool
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

var _ http.RoundTripper = (*Pool)(nil)

// New validates o and returns a Pool. Active health checks do not run until
// Start.
func New(o Options) (*Pool, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	p := &Pool{
		name:     o.Name,
		balance:  o.Balance,
		health:   o.Health,
		maxFails: o.Passive.MaxFails,
		failFor:  o.Passive.FailTimeout,
		retries:  o.Retries,
		log:      o.Logger,
		now:      o.Now,
	}
	if p.name != "" {
		p.label = fmt.Sprintf("pool %q ", p.name)
	}
	if p.balance == "" {
		p.balance = RoundRobin
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.maxFails == 0 {
		p.maxFails = defaultMaxFails
	}
	if p.failFor == 0 {
		p.failFor = defaultFailTimeout
	}
	p.failing = newStatusSet(o.Passive.Statuses)
	h := &p.health
	if h.Interval == 0 {
		h.Interval = defaultInterval
	}
	if h.Timeout == 0 {
		h.Timeout = defaultTimeout
	}
	if h.Rise == 0 {
		h.Rise = defaultRise
	}
	if h.Fall == 0 {
		h.Fall = defaultFall
	}
	if h.Status == nil {
		p.healthy.addRange(200, 399)
	} else {
		p.healthy = newStatusSet(h.Status)
	}
	if p.retries == 0 {
		p.retries = min(len(o.Members)-1, defaultMaxRetries)
	}
	p.transport = o.Transport
	if p.transport == nil {
		p.owned = newTransport(o)
		p.transport = p.owned
	}

	now := p.now()
	for _, om := range o.Members {
		u := *om.URL
		u.Path, u.RawPath = "", ""
		m := &member{
			url:        &u,
			host:       u.Host,
			weight:     max(om.Weight, 1),
			backup:     om.Backup,
			maxConns:   int64(om.MaxConns),
			seed:       seedOf(u.Scheme + "://" + strings.ToLower(u.Host)),
			lastChange: now,
		}
		p.all = append(p.all, m)
		if m.backup {
			p.backups = append(p.backups, m)
		} else {
			p.primaries = append(p.primaries, m)
		}
	}
	p.scratch = make([]*member, 0, len(p.all))
	return p, nil
}

func newTransport(o Options) *http.Transport {
	dial := o.DialTimeout
	if dial == 0 {
		dial = defaultDialTimeout
	}
	header := o.ResponseHeaderTimeout
	if header == 0 {
		header = defaultResponseHeaderTimeout
	}
	idle := o.MaxIdleConnsPerHost
	if idle == 0 {
		idle = defaultMaxIdleConnsPerHost
	}
	return &http.Transport{
		Proxy:                 nil, // the members are the origin: never an environment proxy
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
	}
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Name returns Options.Name.
func (p *Pool) Name() string { return p.name }

// Start starts the active health checks, if Health.Path is set: one goroutine
// per member, whose first probe is sent at once. Start is idempotent and does
// nothing after Close.
func (p *Pool) Start() {
	p.life.Lock()
	defer p.life.Unlock()
	if p.started || p.closed {
		return
	}
	p.started = true
	if p.health.Path == "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stop = cancel
	for _, m := range p.all {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.probeLoop(ctx, m)
		}()
	}
}

// Close stops the health checks, waits for them to return, and closes the idle
// connections of the transport New built (not those of Options.Transport).
// Requests in flight are not interrupted. Close is idempotent.
func (p *Pool) Close() {
	p.life.Lock()
	defer p.life.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
	if p.owned != nil {
		p.owned.CloseIdleConnections()
	}
}

// CloseIdleConnections closes the idle connections of the transport, so that
// http.Client.CloseIdleConnections reaches it.
func (p *Pool) CloseIdleConnections() {
	if c, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Healthy returns the number of members usable now: neither down nor ejected
// (members at their MaxConns count as usable).
func (p *Pool) Healthy() int {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, m := range p.all {
		if m.state(now) == StateUp {
			n++
		}
	}
	return n
}

// Stats returns a snapshot of every member, in the listed order.
func (p *Pool) Stats() []MemberStats {
	now := p.now()
	out := make([]MemberStats, len(p.all))
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, m := range p.all {
		out[i] = MemberStats{
			URL:        m.url.String(),
			Backup:     m.backup,
			Weight:     m.weight,
			State:      m.state(now),
			InFlight:   m.inFlight.Load(),
			Requests:   m.requests.Load(),
			Failures:   m.failures.Load(),
			Ejections:  m.ejections.Load(),
			LastError:  m.lastErr,
			LastChange: m.lastChange,
		}
	}
	return out
}
