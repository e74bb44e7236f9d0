package upstream_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/upstream"
)

// placeholder is the host the gateway would put in the URL it hands the pool.
const placeholder = "origin.test"

// backend is a real origin on 127.0.0.1 that names itself in X-Member.
//
//	/healthz  answers 200, or 503 after fail(true)
//	/hold     sends its headers, then blocks until the client goes away or
//	          the test ends; entered receives the member name first
//	/slow     like /hold, but blocks before sending its headers
//	otherwise answers status (200 unless set), echoing r.Host in X-Host and
//	the request body in X-Body, with a 4 KiB body
type backend struct {
	name    string
	srv     *httptest.Server
	url     *url.URL
	hits    atomic.Int64 // requests other than probes
	probes  atomic.Int64 // probes answered 503
	accepts atomic.Int64 // connections accepted
	sick    atomic.Bool
	status  atomic.Int64
	entered chan string
	release chan struct{}
}

func newBackend(t *testing.T, name string) *backend {
	t.Helper()
	b := &backend{name: name, entered: make(chan string, 16), release: make(chan struct{})}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.Listener = &countingListener{Listener: b.srv.Listener, n: &b.accepts}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	t.Cleanup(func() { close(b.release) }) // runs first: unblocks /hold
	b.url, _ = url.Parse(b.srv.URL)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		if b.sick.Load() {
			b.probes.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	}
	b.hits.Add(1)
	w.Header().Set("X-Member", b.name)
	w.Header().Set("X-Host", r.Host)
	if r.URL.Path == "/slow" {
		b.entered <- b.name
		select {
		case <-r.Context().Done():
		case <-b.release:
		}
		return
	}
	if r.URL.Path == "/hold" {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		b.entered <- b.name
		select {
		case <-r.Context().Done():
		case <-b.release:
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Body", string(body))
	if s := b.status.Load(); s != 0 {
		w.WriteHeader(int(s))
	}
	w.Write(make([]byte, 4096))
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// refusedURL is the address of a closed listener: dialing it is refused.
func refusedURL(t *testing.T) *url.URL {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &url.URL{Scheme: "http", Host: addr}
}

func members(bs ...*backend) []upstream.Member {
	ms := make([]upstream.Member, len(bs))
	for i, b := range bs {
		ms[i] = upstream.Member{URL: b.url}
	}
	return ms
}

func newPool(t *testing.T, o upstream.Options) *upstream.Pool {
	t.Helper()
	p, err := upstream.New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

func request(t *testing.T, method, path string, body io.Reader) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, "http://"+placeholder+path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// get sends GET path through p and returns the member that answered and the
// status, having read and closed the body.
func get(t *testing.T, p *upstream.Pool, path string) (member string, status int) {
	t.Helper()
	resp, err := p.RoundTrip(request(t, http.MethodGet, path, nil))
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.Header.Get("X-Member"), resp.StatusCode
}

// hold sends GET /hold through p and returns once a member is serving it; the
// response body stays open (the request in flight) until closed.
func hold(t *testing.T, p *upstream.Pool) (member string, body io.Closer) {
	t.Helper()
	r := request(t, http.MethodGet, "/hold", nil)
	resp, err := p.RoundTrip(r)
	if err != nil {
		t.Fatalf("GET /hold: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp.Header.Get("X-Member"), resp.Body
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: still not %s", within, what)
		}
		time.Sleep(2 * time.Millisecond) // polling a condition, not synchronizing
	}
}

func stateOf(p *upstream.Pool, i int) string { return p.Stats()[i].State }

// fakeClock is an injected Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fastHealth probes every few milliseconds so state changes show quickly.
func fastHealth(rise, fall int) upstream.HealthCheck {
	return upstream.HealthCheck{Path: "/healthz", Interval: 5 * time.Millisecond, Timeout: time.Second, Rise: rise, Fall: fall}
}
