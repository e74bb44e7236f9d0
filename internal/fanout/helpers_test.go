package fanout

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/leaktest"
	"github.com/moatproxy/moat/internal/syncbuf"
)

// noLeaks: see leaktest.Check.
var noLeaks = leaktest.Check

// received is one request a peer got.
type received struct {
	Method string
	Header http.Header
	Body   map[string]any
	Raw    string
}

// peer is a real HTTP purge endpoint on loopback that records what it receives. respond
// answers hit n (1-based); nil answers 200.
type peer struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	arrived chan struct{} // one value per request, when it arrives (buffered generously)
}

func newPeer(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *peer {
	t.Helper()
	p := &peer{arrived: make(chan struct{}, 1<<16)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		rec := received{Method: r.Method, Header: r.Header.Clone(), Raw: string(raw)}
		if err := json.Unmarshal(raw, &rec.Body); err != nil {
			t.Errorf("peer: body %q is not JSON: %v", raw, err)
		}
		p.mu.Lock()
		p.got = append(p.got, rec)
		n := len(p.got)
		p.mu.Unlock()
		select {
		case p.arrived <- struct{}{}:
		default:
		}
		if respond != nil {
			respond(w, r, n)
		}
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *peer) requests() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.got...)
}

// newBlockedPeer returns a peer that holds every request until release is called (or the
// client gives up), then answers 200. The test's cleanup releases it before closing it.
func newBlockedPeer(t *testing.T) (p *peer, release func()) {
	t.Helper()
	ch := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(ch) }) }
	p = newPeer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-ch:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(release) // registered after the server's Close, so it runs first
	return p, release
}

// statuses answers hit n with codes[n-1] (the last code for later hits) and the headers
// given for that hit.
func statuses(codes []int, headers map[int]http.Header) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, r *http.Request, n int) {
		for k, v := range headers[n] {
			w.Header()[k] = v
		}
		w.WriteHeader(codes[min(n, len(codes))-1])
		io.WriteString(w, "peer says no")
	}
}

// sleeps records the waits a Fanout asks for and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// linearBackoff makes retry waits recognizable: retry n waits n ms.
func linearBackoff(retry int) time.Duration { return time.Duration(retry) * time.Millisecond }

// start returns a started Fanout that the test's cleanup closes (before the peers, which were
// created earlier).
func start(t *testing.T, o Options) *Fanout {
	t.Helper()
	f, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.Close(ctx)
	})
	return f
}

// drain closes f, waiting up to 10s for its queues to empty.
func drain(t *testing.T, f *Fanout) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// eventually polls cond until it holds or 5s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// lockedBuffer is an io.Writer for a logger shared by goroutines.
type lockedBuffer = syncbuf.Buffer
