package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultQueueSize  = 1000
	DefaultMaxRetries = 5
)

// ErrInvalidOptions is wrapped by New's errors about Options other than a target.
var ErrInvalidOptions = errors.New("fanout: invalid options")

// Options configure a Fanout. The zero value of every field but Targets is usable.
type Options struct {
	// Targets receive every purge, each through its own queue and worker.
	// None: New returns a Fanout that does nothing.
	Targets []Target

	// QueueSize bounds the purges waiting for one target. Default: 1000
	// (DefaultQueueSize). Negative is an error.
	//
	// When a queue is full, its oldest purge is dropped to make room, counted in
	// Stats.Dropped and logged (once per episode). The oldest, not the newest: a queue fills
	// when its target has been failing for a while, and when it recovers the purges worth
	// sending are those for the latest writes; the oldest ones have had the longest time to
	// expire at the target by TTL. Keeping the oldest would spend the recovery on ancient
	// purges and lose every purge made during the outage. Either way a drop means the target
	// may serve a purged response until its TTL ends: alert on Dropped.
	QueueSize int

	// MaxRetries is how many times one request is retried after its first attempt, on a
	// network error, a timeout, 408, 429 or 5xx (never on another status: a 4xx will not get
	// better; an adapter may refine this, e.g. Cloudflare's 200 with "success": false is
	// retried only when rate limited). Each batch of a purge has its own retries. Default: 5
	// (DefaultMaxRetries); negative: no retries.
	MaxRetries int

	// Client sends the requests. If nil, a client is used that has connect and TLS timeouts,
	// does not use HTTP(S)_PROXY from the environment, and does not follow redirects (a
	// redirected POST becomes a GET and loses its body); its idle connections are closed by
	// Close. A Client given here is used as is and not closed.
	//
	// WARNING: a Client that follows redirects (http.Client's default) turns a 301 or 302
	// into a GET without the body, which a target may answer 2xx: a purge counted as Sent
	// that purged nothing. Set CheckRedirect to return http.ErrUseLastResponse.
	Client *http.Client

	// Logger receives failures (Warn) and per-attempt detail (Debug). It never receives
	// header values, nor a target URL's query or user info. If nil, nothing is logged.
	Logger *slog.Logger

	// Now is the clock, used to read a Retry-After date and to sign EdgeGrid requests. If
	// nil, time.Now.
	Now func() time.Time

	// Backoff returns the wait before retry number retry (1 for the first retry) when the
	// target gave no Retry-After. If nil, exponential backoff with full jitter: a uniformly
	// random wait in [0, min(BackoffCap, BackoffBase·2^(retry-1))).
	Backoff func(retry int) time.Duration

	// Sleep waits d or until ctx ends, returning ctx's error in that case. It must honour ctx,
	// or Close cannot stop a worker that is waiting to retry. If nil, a timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Fanout forwards purges to every target. Create it with New, call Start, and Close it.
// Its methods are safe for concurrent use. A nil *Fanout is valid and does nothing, so that
// a caller need not check whether fan-out is configured.
type Fanout struct {
	workers    []*worker
	client     *http.Client
	ownClient  bool
	log        *slog.Logger
	now        func() time.Time
	backoff    func(int) time.Duration
	sleep      func(context.Context, time.Duration) error
	maxRetries int

	// ctx is the workers' lifetime: Close cancels it when its own context ends before the
	// queues are drained, which aborts in-flight requests and retry waits.
	ctx    context.Context
	cancel context.CancelFunc

	abandoned atomic.Int64  // purges given up by Close (leftover or aborted)
	live      atomic.Int64  // workers that have not exited
	done      chan struct{} // closed when no worker runs and none will
	doneOnce  sync.Once
	stopOnce  sync.Once

	mu      sync.Mutex
	started bool
	closing bool
}

// New validates o and returns a Fanout that accepts purges (queueing them) but sends nothing
// until Start. An error names the option, e.g. "targets[1].url", and wraps ErrInvalidTarget or
// ErrInvalidOptions.
func New(o Options) (*Fanout, error) {
	if o.QueueSize < 0 {
		return nil, fmt.Errorf("%w: QueueSize must not be negative", ErrInvalidOptions)
	}
	for i, t := range o.Targets {
		if field, reason := t.problem(); field != "" {
			return nil, fmt.Errorf("%w: targets[%d].%s: %s", ErrInvalidTarget, i, field, reason)
		}
	}
	f := &Fanout{
		client:     o.Client,
		log:        o.Logger,
		now:        o.Now,
		backoff:    o.Backoff,
		sleep:      o.Sleep,
		maxRetries: o.MaxRetries,
		done:       make(chan struct{}),
	}
	if f.client == nil {
		f.client, f.ownClient = defaultClient(), true
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.backoff == nil {
		f.backoff = fullJitter
	}
	if f.sleep == nil {
		f.sleep = sleep
	}
	switch {
	case f.maxRetries == 0:
		f.maxRetries = DefaultMaxRetries
	case f.maxRetries < 0:
		f.maxRetries = 0
	}
	size := o.QueueSize
	if size == 0 {
		size = DefaultQueueSize
	}
	for _, t := range o.Targets {
		f.workers = append(f.workers, newWorker(t, size, f.now))
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	return f, nil
}

// defaultClient is Options.Client's default. The per-attempt context bounds the whole
// exchange; the transport's timeouts only make a dead host fail fast.
func defaultClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil, // not http.ProxyFromEnvironment: purges go straight to the target
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          16,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Start launches one worker goroutine per target, owned by f and stopped by Close. Calls after
// the first, and calls after Close, do nothing.
func (f *Fanout) Start() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started || f.closing {
		return
	}
	f.started = true
	if len(f.workers) == 0 {
		f.finish()
		return
	}
	f.live.Store(int64(len(f.workers)))
	for _, w := range f.workers {
		go f.run(w)
	}
}

// finish marks that no worker runs any more.
func (f *Fanout) finish() { f.doneOnce.Do(func() { close(f.done) }) }

// Enqueue queues p for every target and returns at once: it never waits for the network or
// for a full queue (see Options.QueueSize). If p.ID is empty it gets NewID(). A purge that
// selects nothing is not sent. After Close, purges are dropped and counted.
//
// p is copied before Enqueue returns, so the caller may reuse its slices. Each target's
// adapter turns the copy into its own requests when the worker delivers it.
func (f *Fanout) Enqueue(p Purge) {
	if f == nil || len(f.workers) == 0 {
		return
	}
	if p.empty() {
		f.log.Debug("empty purge not fanned out")
		return
	}
	if p.ID == "" {
		p.ID = NewID()
	}
	j := job{id: p.ID, p: p.clone()}
	for _, w := range f.workers {
		w.enqueue(j, f.log)
	}
}

// Close stops accepting purges, waits until every queued purge has been delivered (or has
// failed) or ctx ends, and stops the workers; it returns when no worker runs. If ctx ends
// first, in-flight requests and retry waits are aborted, the purges not delivered are counted
// in Stats.Dropped and logged, and Close returns ctx's error. Close is idempotent: a later
// call returns nil once the workers have stopped. A Fanout that was never started drops its
// queued purges.
func (f *Fanout) Close(ctx context.Context) error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	first := !f.closing
	f.closing = true
	started := f.started
	f.mu.Unlock()
	if first {
		for _, w := range f.workers {
			w.close()
		}
		if !started {
			f.finish()
		}
	}

	var err error
	select {
	case <-f.done:
	default:
		select {
		case <-f.done:
		case <-ctx.Done():
			f.cancel()
			<-f.done // prompt: every wait of a worker also watches f.ctx
			err = ctx.Err()
		}
	}
	f.stopOnce.Do(f.stopped)
	if f.abandoned.Load() == 0 {
		return nil // ctx ended just as the last delivery did: nothing was lost
	}
	return err
}

// stopped runs once, after every worker has exited.
func (f *Fanout) stopped() {
	f.cancel()
	for _, w := range f.workers {
		if n := w.drop(); n > 0 {
			f.abandoned.Add(int64(n))
		}
	}
	if n := f.abandoned.Load(); n > 0 {
		f.log.Warn("purge fan-out closed before every purge was delivered; targets may serve purged responses until their TTLs end",
			"abandoned", n)
	}
	if f.ownClient {
		f.client.CloseIdleConnections()
	}
}

// Stats are counters since New, summed over the targets: one purge sent to three targets is
// counted three times. Sent, Retried and Failed count requests: a moat target gets one request
// per purge, a CDN one per batch (a purge of 75 tags is 3 requests to Cloudflare). Dropped and
// Pending count purges. Every counter but Pending only grows.
type Stats struct {
	Sent    int64 // requests delivered: the target answered success (2xx, as its adapter judges)
	Retried int64 // attempts after the first
	Failed  int64 // requests given up: retries exhausted or an answer not worth retrying
	Dropped int64 // purges never delivered nor failed: queue overflow, Enqueue after Close, or abandoned by Close

	// Unsupported counts the kinds of selector skipped because the target cannot express
	// them (routes on a CDN, prefixes on Fastly, all on Akamai ...): one per kind per purge.
	// Each kind is also logged once per target (Warn). Such parts are never widened into a
	// purge of everything.
	Unsupported int64

	Pending int // purges queued or in flight now

	PerTarget []TargetStats // in the order of Options.Targets
}

// TargetStats are the Stats of one target.
type TargetStats struct {
	Target                                      string // the API endpoint, without query or user info
	Type                                        string // the target's type, e.g. "cloudflare"
	Sent, Retried, Failed, Dropped, Unsupported int64
	Pending                                     int
}

// Stats returns the current counters.
func (f *Fanout) Stats() Stats {
	if f == nil {
		return Stats{}
	}
	s := Stats{PerTarget: make([]TargetStats, len(f.workers))}
	for i, w := range f.workers {
		ts := w.stats()
		s.PerTarget[i] = ts
		s.Sent += ts.Sent
		s.Retried += ts.Retried
		s.Failed += ts.Failed
		s.Dropped += ts.Dropped
		s.Unsupported += ts.Unsupported
		s.Pending += ts.Pending
	}
	return s
}
