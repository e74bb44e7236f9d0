package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"github.com/moatproxy/moat/cache"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// Regression (review 7): a PUT is forwarded with the client's own
// Accept-Encoding (a pass, not a fill), so the origin may answer it
// gzip-coded; that answer is not written through (it was stored with its
// coding unknown, and a client that accepts no gzip got gzip bytes).
func TestWriteThroughSkipsEncodedAnswers(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		body := []byte(strings.Repeat("new state ", 50))
		if r.Method == http.MethodPut {
			io.ReadAll(r.Body)
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Location", r.URL.Path)
		w.Header().Set("Vary", "Accept-Encoding")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(body)
			zw.Close()
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(b.Bytes())
			return
		}
		w.Write(body)
	})
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /books/{id}", TTL: time.Minute}}, func(op *Options) { op.Compress = true })
	req, _ := http.NewRequest("PUT", s.front.URL+"/books/1", strings.NewReader("x"))
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := s.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := s.do(t, "GET", "/books/1", "Accept-Encoding", "identity")
	t.Logf("GET: X-Cache=%s Content-Encoding=%q body[:4]=%q", r.xcache(), r.header.Get("Content-Encoding"), r.body[:min(4, len(r.body))])
	if r.header.Get("Content-Encoding") == "gzip" || !strings.HasPrefix(r.body, "new state") {
		t.Errorf("a client that accepts only identity got Content-Encoding %q (X-Cache %s)", r.header.Get("Content-Encoding"), r.xcache())
	}
}

// failingL2 is the fleet's shared L2 whose purges fail while fail is set
// (Redis down or refusing), and whose Invalidate can be held.
type failingL2 struct {
	remoteInvalidator
	fail *atomicBool
	hold chan chan struct{} // if not nil, each Invalidate sends a channel and waits on it
}

type atomicBool struct{ ch chan struct{} }

func (f failingL2) Invalidate(ctx context.Context, inv cache.Invalidation) (int, error) {
	if f.fail != nil && f.fail.on() {
		return 0, errors.New("L2 down")
	}
	if f.hold != nil {
		release := make(chan struct{})
		f.hold <- release
		<-release
	}
	return f.remoteInvalidator.Invalidate(ctx, inv)
}

func (b *atomicBool) on() bool {
	select {
	case <-b.ch:
		return false
	default:
		return true
	}
}

// Regression (review 7): while L2 refuses purges, an earlier write's purge
// is retried at the head of the purge queue; a write-through's purge
// waits for its own first attempt for a bounded time only, so the PUT's
// answer is not held until L2 recovers (DESIGN invariant 3).
func TestWriteThroughDoesNotWaitForADownL2(t *testing.T) {
	o := newBookOrigin(t)
	fail := &atomicBool{ch: make(chan struct{})}
	fl := newSharedFleet(t, o.origin, bookRoutes, func(l2 cache.Tier) cache.Tier {
		return failingL2{remoteInvalidator: l2.(remoteInvalidator), fail: fail}
	})
	a := fl.start()
	a.put(t, "/books/noloc", "x") // its purge fails in L2, and is retried
	client := &http.Client{Timeout: 3 * time.Second}
	req, _ := http.NewRequest("PUT", a.front.URL+"/books/7", strings.NewReader("v7"))
	req.Host = "api.example"
	start := time.Now()
	resp, err := client.Do(req)
	took := time.Since(start)
	if err == nil {
		resp.Body.Close()
	}
	close(fail.ch) // L2 back, so the cleanup ends
	if err != nil || took > time.Second {
		t.Errorf("PUT with write-through while L2 refuses purges: err=%v after %s", err, took)
	}
}

// Regression (review 7): two writes to one URI: W1's answer (state v1)
// arrives first, its purge waits on L2; W2's purge (state v2, the newer)
// is stamped meanwhile. W1's write-through counts from the generation its
// own purge stamped, so W2's purge overtakes it and v1 is not stored.
func TestWriteThroughConcurrentWritesKeepTheNewer(t *testing.T) {
	bodyHold := make(chan struct{})
	var first sync.Once
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		in, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Location", r.URL.Path)
		w.Header().Set("Content-Type", "text/plain")
		isV1 := string(in) == "v1"
		if isV1 {
			// v1's answer streams: its header now, its body later.
			w.Header().Set("Content-Length", "100000")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			<-bodyHold
			w.Write([]byte("v1"))
			w.Write(bytes.Repeat([]byte(" "), 100000-2))
			return
		}
		first.Do(func() {})
		w.Write(in)
	})
	hold := make(chan chan struct{})
	fl := newSharedFleet(t, o, bookRoutes, func(l2 cache.Tier) cache.Tier {
		return failingL2{remoteInvalidator: l2.(remoteInvalidator), hold: hold}
	})
	a := fl.start()
	put := func(body string, done chan<- struct{}) {
		req, _ := http.NewRequest("PUT", a.front.URL+"/books/9", strings.NewReader(body))
		req.Host = "api.example"
		resp, err := a.front.Client().Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		close(done)
	}
	d1, d2 := make(chan struct{}), make(chan struct{})
	go put("v1", d1)
	rel1 := <-hold // W1's purge is in L2 (stamped here already)
	go put("v2", d2)
	// W2's answer arrives and its purge is stamped and queued behind W1's,
	// which L2 holds: the queue's one waiting job is then W2's.
	waitFor(t, "W2's purge queued behind W1's", func() bool { return len(a.gw.purges.jobs) == 1 })
	close(rel1) // W1's purge returns; W1's write-through starts now
	rel2 := <-hold
	close(rel2)
	<-d2            // W2 stored v2
	close(bodyHold) // W1's body ends: stored last
	<-d1
	// W1's entry is stored, or refused as overtaken, when its body ends,
	// which may be just after its client read the last byte: the GET must
	// come after that, or it proves nothing. If neither comes, W1's
	// write-through was skipped: its purge waited longer than its bound.
	waitFor(t, "W1's and W2's write-throughs stored or refused", func() bool {
		return a.gw.stats.WriteThroughs.Load()+a.gw.stats.PurgedFills.Load() >= 2
	})
	r := a.do(t, "GET", "/books/9")
	t.Logf("GET after v1 then v2: %q (%s)", strings.TrimSpace(r.body), r.header.Get("Cache-Status"))
	if strings.TrimSpace(r.body) == "v1" && r.xcache() == "HIT" {
		t.Errorf("the older write's state v1 is served from the cache after the newer write v2's purge")
	}
}

type reviewFailVersions struct {
	LocalVersions
	fail bool
}

func (f *reviewFailVersions) Raise(ctx context.Context, v map[string]uint64) (map[string]uint64, error) {
	if f.fail {
		return nil, errors.New("versions store down")
	}
	return f.LocalVersions.Raise(ctx, v)
}

// Regression (review 7): ErrPurgeNotShared says "retry the purge"; a
// retry with the same ID (the Runner's event purges always carry one) is
// applied again, not taken as a duplicate, so the shared versions are
// raised.
func TestRetryAfterNotSharedIsApplied(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) })
	vers := &reviewFailVersions{fail: true}
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /books/{id}", TTL: time.Minute}}, func(op *Options) { op.Versions = vers })
	p := Purge{ID: "event:src:42:0", Routes: []string{"GET /books/{id}"}}
	_, err := s.gw.ApplyEvent(context.Background(), p)
	if !errors.Is(err, ErrPurgeNotShared) {
		t.Fatalf("first attempt: %v", err)
	}
	vers.fail = false
	res, err := s.gw.ApplyEvent(context.Background(), p)
	stored, _ := vers.LocalVersions.Load(context.Background())
	t.Logf("retry: err=%v duplicate=%v; store holds %v", err, res.Duplicate, stored)
	if res.Duplicate || len(stored) == 0 {
		t.Errorf("the retry of a purge not shared was dropped as a duplicate; the versions store never got it")
	}
}

// Regression (review 7): an event purge is not acknowledged (nil error)
// while L2 refuses it: ApplyEvent waits for L2 like an API purge, so a
// source does not commit an event that L2 and the Bus have not got.
func TestEventPurgeWaitsForL2(t *testing.T) {
	o := newBookOrigin(t)
	fail := &atomicBool{ch: make(chan struct{})}
	fl := newSharedFleet(t, o.origin, bookRoutes, func(l2 cache.Tier) cache.Tier {
		return failingL2{remoteInvalidator: l2.(remoteInvalidator), fail: fail}
	})
	a := fl.start()
	_, err := a.gw.ApplyEvent(context.Background(), Purge{Tags: []string{"book:1"}, ID: "event:s:1:0"})
	close(fail.ch)
	if err == nil {
		t.Errorf("ApplyEvent returned nil while L2 refused the purge: the Runner acks the event")
	}
}

// A route's write rules (invalidate: book:{id}) purge the tags the GET's
// entries carry: with a write-through they go in the write's own purge,
// so no purge after the Keep purge refuses the entry on the other nodes.
func TestWriteThroughWithWriteRules(t *testing.T) {
	o := newBookOrigin(t)
	routes := []policy.Policy{
		{Pattern: "GET /books/{id}", TTL: 10 * time.Minute, Tags: []string{"book:{id}"}},
		{Pattern: "PUT /books/{id}", Invalidate: []string{"book:{id}"}},
	}
	fl := newSharedFleet(t, o.origin, routes, nil)
	a, b := fl.start(), fl.start()
	stop := make(chan struct{})
	defer close(stop)
	go func() { // the clock moves, as a real one does
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Microsecond):
				fl.clock.Advance(100 * time.Microsecond)
			}
		}
	}()
	w := a.gw.l2.Written.Load()
	a.put(t, "/books/1", "new")
	a.written(t, w+1)
	// Node b refuses the entry only once it has heard a purge after the
	// write's own (the bug): wait until b has applied every purge a made,
	// which a publishes from its purge queue, after L2 took each.
	waitFor(t, "node b to hear node a's purges", func() bool {
		made := a.gw.stats.Purges.Load() - a.gw.stats.PurgesByKind[PurgeRemote].Load()
		return b.gw.stats.PurgesByKind[PurgeRemote].Load() >= made
	})
	ra := a.do(t, "GET", "/books/1")
	rb := b.do(t, "GET", "/books/1")
	t.Logf("node a: %s %q; node b: %s %q (%s)", ra.xcache(), ra.body, rb.xcache(), rb.body, rb.header.Get("Cache-Status"))
	if rb.xcache() != "HIT" {
		t.Errorf("write-through not served on the other node when the PUT route has write rules")
	}
}

// countingL2 counts the deletes of keys that reach L2.
type countingL2 struct {
	remoteInvalidator
	deletes *atomic.Int64
}

func (c countingL2) Delete(ctx context.Context, key string) error {
	c.deletes.Add(1)
	return c.remoteInvalidator.Delete(ctx, key)
}

// Regression (review 7): the other nodes that held the old entry in L1
// deleted it from L2 too on hearing the write's purge, racing the
// writer's Replace; with an L2 that applies purges they clear L1 alone.
func TestWriteThroughNotDeletedByOtherNodes(t *testing.T) {
	lost := 0
	for range 20 {
		o := newBookOrigin(t)
		var deletes atomic.Int64
		fl := newSharedFleet(t, o.origin, bookRoutes, func(l2 cache.Tier) cache.Tier {
			return countingL2{remoteInvalidator: l2.(remoteInvalidator), deletes: &deletes}
		})
		a, b, c := fl.start(), fl.start(), fl.start()
		for _, n := range []*node{a, b, c} {
			w := n.gw.l2.Written.Load()
			if r := n.do(t, "GET", "/books/1"); r.header.Get("X-Cache") == "MISS" {
				// Its fill's L2 write lands before the PUT: a fill that
				// started before the write and reaches L2 after it is
				// fenced, and its fence deletes what the key holds
				// (docs/invalidation.md), which is not what this checks.
				n.written(t, w+1)
			}
		}
		// Every L2 delete the purge causes is queued before the PUT
		// answers (on this node, before its Replace, in the URL's order).
		w := a.gw.l2.Written.Load()
		before := deletes.Load()
		a.put(t, "/books/1", "new title")
		a.written(t, w+1)
		for _, n := range []*node{b, c} {
			waitFor(t, "the other nodes' L2 queues empty", func() bool { return l2QueuesEmpty(n.gw.l2) })
		}
		if e, _ := fl.l2.Get(context.Background(), b.gw.keyForURL(mustURL("http://api.example/books/1"))); e == nil {
			lost++
		}
		if d := deletes.Load() - before; d > 1 {
			t.Errorf("L2 deletes after the PUT: %d, want the writer's own at most", d)
		}
	}
	if lost > 0 {
		t.Errorf("write-through entry gone from L2 in %d of 20 runs", lost)
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

// l2QueuesEmpty reports whether every L2 writer queue of l is empty.
func l2QueuesEmpty(l *l2) bool {
	for _, q := range l.queues {
		q.mu.Lock()
		n := len(q.ops)
		q.mu.Unlock()
		if n > 0 {
			return false
		}
	}
	return true
}

// droppingL1 is an L1 whose admission policy turns an entry away (as
// W-TinyLFU does for a new key when the cache is full): Set succeeds and
// stores nothing, for keys holding drop.
type droppingL1 struct {
	*cache.Memory
	drop string
}

func (d droppingL1) Set(ctx context.Context, key string, e *cache.Entry) error {
	if strings.Contains(key, d.drop) {
		return nil
	}
	return d.Memory.Set(ctx, key, e)
}

// slowReplaceL2 holds each Replace until released (a backed-up L2 write
// queue).
type slowReplaceL2 struct {
	remoteInvalidator
	gate chan struct{}
}

func (s slowReplaceL2) Replace(ctx context.Context, key string, e *cache.Entry, after time.Time) error {
	<-s.gate
	return s.remoteInvalidator.Replace(context.Background(), key, e, after)
}

// Regression (review 7): a purge that reaches L2 after the write-through
// was committed but before its queued Replace lands fences it: Replace
// passes the write's own fence only, so a node that starts after that
// purge does not serve the purged state.
func TestReplaceHonoursLaterPurges(t *testing.T) {
	state := "v5"
	var mu sync.Mutex
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPut {
			in, _ := io.ReadAll(r.Body)
			state = string(in)
			w.Header().Set("Content-Location", r.URL.Path)
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, state)
	})
	gate := make(chan struct{})
	fl := newSharedFleet(t, o, bookRoutes, func(l2 cache.Tier) cache.Tier {
		return slowReplaceL2{remoteInvalidator: l2.(remoteInvalidator), gate: gate}
	})
	// Node a, with an L1 that turns /books/5 away.
	u, _ := url.Parse(o.URL)
	tbl, _ := policy.New(fl.pols)
	mem, _ := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20, Now: fl.clock.Now})
	t.Cleanup(func() { mem.Close() })
	gw, err := New(Options{Origin: u, Policies: tbl, Now: fl.clock.Now, OriginTimeout: 2 * time.Second, Tier: droppingL1{mem, "/books/5"},
		L2: fl.l2, L2Timeout: 5 * time.Second, L2Skew: time.Nanosecond, Bus: fl.bus, Versions: fl.vers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close() })
	a := &node{gw: gw, front: httptest.NewServer(gw)}
	t.Cleanup(a.front.Close)
	c := fl.start()

	fl.clock.Advance(time.Second)
	a.put(t, "/books/5", "v5") // committed; its Replace waits in a's L2 queue
	fl.clock.Advance(time.Second)
	mu.Lock()
	state = "v6" // the application changes the book and purges it
	mu.Unlock()
	if _, err := c.gw.Purge(context.Background(), Purge{URLs: []string{"http://api.example/books/5"}}); err != nil {
		t.Fatal(err)
	}
	fl.clock.Advance(time.Second)
	close(gate) // a's Replace lands now, past the purge's fence
	waitFor(t, "the write-through in L2", func() bool { return a.gw.l2.Written.Load() >= 1 })
	d := fl.start() // a node started after the purge
	r := d.do(t, "GET", "/books/5")
	t.Logf("new node: %q %s", r.body, r.header.Get("Cache-Status"))
	if r.body != "v6" {
		t.Errorf("a node started after the purge serves %q from L2 (origin has v6)", r.body)
	}
}

// Regression (review 7): on a write_through route, a 202 Accepted (the
// write is queued, the body is a status report, not the resource) is not
// stored as the GET's 200.
func TestWriteThrough202IsNotTheResource(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"job":"123","status":"queued"}`)
			return
		}
		io.WriteString(w, `{"title":"the book"}`)
	})
	s := newGateway(t, o, []policy.Policy{
		{Pattern: "PUT /flagged/{id}", WriteThrough: true},
		{Pattern: "GET /flagged/{id}", TTL: 10 * time.Minute},
	}, nil)
	req, _ := http.NewRequest("PUT", s.front.URL+"/flagged/1", strings.NewReader("{}"))
	resp, err := s.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	r := s.do(t, "GET", "/flagged/1")
	t.Logf("GET: %d %s %q", r.status, r.xcache(), r.body)
	if r.xcache() == "HIT" {
		t.Errorf("a 202's job report is served as the resource: %q", r.body)
	}
}
