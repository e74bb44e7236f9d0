package gateway

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// Regression tests for the defects of issue #10, one per defect; the
// security suite (security/) covers the classes end to end.

func TestPathConfusionDoesNotPoison(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		// The origin resolves dot segments itself, as most do.
		if r.URL.Path == "/account" {
			fmt.Fprintf(w, "account of %s", r.Header.Get("Cookie"))
			return
		}
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprint(w, "static")
	})
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /static/{path...}", TTL: time.Hour, OverrideOrigin: true, AllowSetCookie: true}}, nil)

	attack := s.do(t, "GET", "/static/.%2e/account", "Cookie", "session=attacker")
	if got := o.lastRequest().URL.Path; got != "/account" {
		t.Fatalf("origin got %q, want /account", got)
	}
	if strings.Contains(attack.header.Get("Cache-Status"), "stored") {
		t.Fatalf("attack response stored: Cache-Status %q", attack.header.Get("Cache-Status"))
	}
	victim := s.do(t, "GET", "/account", "Cookie", "session=victim")
	if victim.body != "account of session=victim" {
		t.Fatalf("victim got %q (X-Cache %s), want their own account", victim.body, victim.xcache())
	}

	t.Run("encoded_slash_dot_segments_refused", func(t *testing.T) {
		for _, p := range []string{"/static/..%2Faccount", "/static/..%5Caccount", "/static/%2e%2e%2faccount"} {
			if r := s.do(t, "GET", p); r.status != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", p, r.status)
			}
		}
	})
}

func TestCredentialsOnUnroutedPaths(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "for %q", r.Header.Get("X-Test-Tier"))
	})
	s := newGateway(t, o, nil, func(o *Options) { o.Identifier = headerIdentifier{} })
	s.do(t, "GET", "/free", "X-Test-Tier", "gold")
	anon := s.do(t, "GET", "/free")
	if anon.body != `for ""` {
		t.Fatalf("anonymous client got %q (X-Cache %s): a credentialed answer was shared", anon.body, anon.xcache())
	}
	// And a credentialed request is not answered from the anonymous entry
	// (RFC 9111 §3.5: it is not marked public).
	if r := s.do(t, "GET", "/free", "X-Test-Tier", "forged"); r.xcache() == "HIT" {
		t.Fatalf("forged credentials got a cached answer")
	}
}

func TestOriginGetsTheKeyedHost(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, r.Header.Get("X-Forwarded-Host"))
	})
	s := newGateway(t, o, nil, nil)
	req, _ := http.NewRequest("GET", s.front.URL+"/h", nil)
	req.Host = "EXAMPLE.test:80"
	resp, err := s.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "example.test" {
		t.Fatalf("origin saw X-Forwarded-Host %q, want the keyed spelling example.test", b)
	}
}

func TestGetWithBodyNeverCached(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "body=%s", b)
	})
	s := newGateway(t, o, nil, nil)
	req, _ := http.NewRequest("GET", s.front.URL+"/g", strings.NewReader("evil"))
	resp, err := s.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := s.do(t, "GET", "/g"); r.body != "body=" {
		t.Fatalf("plain GET got %q (X-Cache %s): the answer to a GET with a body was stored", r.body, r.xcache())
	}
}

func TestOriginGetsTheExactQuery(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.RawQuery) })
	s := newGateway(t, o, nil, nil)
	many := strings.Repeat("p=1&", 10_050) + "last=1"
	for _, q := range []string{"a=1;b=2", "c=%zz&d=1", many} {
		if r := s.do(t, "GET", "/q?"+q); r.body != q {
			t.Errorf("origin got query %.60q..., want %.60q...", r.body, q)
		}
	}
}

func TestUnknownMethodsDoNotEvict(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, nil, nil)
	s.do(t, "GET", "/p")
	for _, m := range []string{"PURGE", "BAN", "FOO"} {
		s.do(t, m, "/p")
		wantXCache(t, s.do(t, "GET", "/p"), "HIT")
	}
	s.do(t, "DELETE", "/p")
	wantXCache(t, s.do(t, "GET", "/p"), "MISS")
}

func TestUnkeyedHeadersStripped(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {})
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /v", Vary: []string{"X-Forwarded-Prefix"}}}, nil)
	s.do(t, "GET", "/s", "X-Forwarded-Scheme", "http", "X_Forwarded_Host", "evil", "X-HTTP-Method-Override", "DELETE", "X-Original-URL", "/admin", "X-Keep", "1")
	got := o.lastRequest().Header
	for _, name := range []string{"X-Forwarded-Scheme", "X_forwarded_host", "X-Http-Method-Override", "X-Original-Url"} {
		if v, ok := got[name]; ok {
			t.Errorf("origin received %s: %q", name, v)
		}
	}
	if got.Get("X-Keep") != "1" {
		t.Errorf("an ordinary field was dropped")
	}
	s.do(t, "GET", "/v", "X-Forwarded-Prefix", "/p")
	if got := o.lastRequest().Header.Get("X-Forwarded-Prefix"); got != "/p" {
		t.Errorf("a field the route varies on (keyed) was dropped: %q", got)
	}
}

// rawExchange sends raw bytes to addr and returns everything the server
// wrote before closing the connection.
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("connection not closed by the server: %v (read %q)", err, b)
	}
	return string(b)
}

func TestMalformedChunkedBodyIs400(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	s := newGateway(t, o, nil, nil)
	out := rawExchange(t, s.front.Listener.Addr().String(), "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 400") {
		t.Fatalf("got %.80q, want a 400", out)
	}
	if n := s.gw.Stats().OriginErrors.Load(); n != 0 {
		t.Fatalf("counted %d origin errors for a client's bad body", n)
	}
}

func TestChunkedWithContentLengthClosesConnection(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	s := newGateway(t, o, nil, nil)
	out := rawExchange(t, s.front.Listener.Addr().String(),
		"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if n := strings.Count(out, "HTTP/1.1 "); n != 1 {
		t.Fatalf("%d responses on the connection, want 1: %q", n, out)
	}
	if o.count("GET /smuggled") != 0 {
		t.Fatalf("smuggled request reached the origin")
	}
}

func TestSlowLeaderDoesNotStallWaiters(t *testing.T) {
	const size = 16 << 20
	body := strings.Repeat("x", size)
	arrived := make(chan struct{}, 1)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		select {
		case arrived <- struct{}{}:
		default:
		}
		_, _ = io.WriteString(w, body)
	})
	s := newGateway(t, o, nil, func(o *Options) {
		mem, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: 512 << 20, Now: o.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mem.Close() })
		o.Tier = mem
		o.MaxObjectSize = 32 << 20
		o.CoalesceTimeout = time.Hour // a stalled fill would hold the waiters past the test's deadline
	})
	// The leader: a client that sends its request and never reads.
	c, err := net.Dial("tcp", s.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4096)
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: "+s.front.Listener.Addr().String()+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	<-arrived
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", s.front.URL+"/big", nil)
			resp, err := s.front.Client().Do(req)
			if err != nil {
				errs <- err
				return
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || n != size {
				errs <- fmt.Errorf("read %d bytes, err %v", n, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("waiter: %v (the slow leader stalled them)", err)
	}
	if n := o.count("GET /big"); n != 1 {
		t.Fatalf("origin requests = %d, want 1", n)
	}
}

func TestOriginErrorsCoalesce(t *testing.T) {
	gate := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-gate
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, "boom")
	})
	s := newGateway(t, o, nil, nil)
	const n = 10
	var wg sync.WaitGroup
	got := make(chan result, n)
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); got <- s.do(t, "GET", "/e") }()
	}
	waitFor(t, "all but the leader to wait", func() bool { return s.gw.Stats().Collapsed.Load() == n-1 })
	close(gate)
	wg.Wait()
	close(got)
	for r := range got {
		if r.status != 500 || r.body != "boom" {
			t.Errorf("got %d %q, want the origin's 500", r.status, r.body)
		}
	}
	if c := o.count("GET /e"); c != 1 {
		t.Fatalf("origin requests = %d, want 1", c)
	}
}

func TestCacheStatusStoredOnlyWhenStored(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.(http.Flusher).Flush() // chunked: no Content-Length
		_, _ = io.WriteString(w, strings.Repeat("y", 2<<10))
	})
	s := newGateway(t, o, nil, func(o *Options) { o.MaxObjectSize = 1 << 10 })
	r := s.do(t, "GET", "/l")
	if cs := r.header.Get("Cache-Status"); strings.Contains(cs, "stored") {
		t.Fatalf("Cache-Status %q for a response too large to store", cs)
	}
	if len(r.body) != 2<<10 {
		t.Fatalf("body of %d bytes, want all %d", len(r.body), 2<<10)
	}
	wantXCache(t, s.do(t, "GET", "/l"), "MISS")
}

func TestSlowUploadTimesOut(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	s := newGateway(t, o, nil, func(o *Options) { o.ClientBodyTimeout = 200 * time.Millisecond })
	c, err := net.Dial("tcp", s.front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nx"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled upload: %v", err)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
}

func TestGenerationsStayBounded(t *testing.T) {
	g := newGenerations(nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range 300_000 {
		g.stamp(nil, []string{"POST http://h/item/" + strconv.Itoa(i)}, nil)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Fatalf("300k write stamps grew the heap by %d bytes", grew)
	}
	since := g.current()
	g.stamp(nil, []string{"k"}, nil)
	if !g.purgedSince(since, "k", "/", nil) {
		t.Fatal("a stamped key is not seen as purged")
	}
	if g.purgedSince(g.current(), "k", "/", nil) {
		t.Fatal("a fill that started after the purge is refused")
	}
	for i := range maxPrefixStamps + 10 {
		g.stamp(nil, nil, []string{"/p" + strconv.Itoa(i)})
	}
	if len(g.pfx) > maxPrefixStamps {
		t.Fatalf("%d prefix stamps kept, want at most %d", len(g.pfx), maxPrefixStamps)
	}
	if !g.purgedSince(since, "other", "/elsewhere", nil) {
		t.Fatal("a fill older than the dropped prefix stamps is not treated as purged")
	}
}

func TestWriteInvalidatesEveryScopeOfTheURL(t *testing.T) {
	// A write invalidates the tier, user and variant entries of its URL
	// through the tag index (no walk of the tier per write).
	var n, walks atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s/%s #%d", r.Header.Get("X-Test-Tier"), r.Header.Get("Accept-Language"), n.Add(1))
	})
	s := newGateway(t, o, []policy.Policy{{Pattern: "/s", Scope: policy.ScopeTier}}, func(o *Options) {
		o.Identifier = headerIdentifier{}
		o.Tier = tierOnly{o.Tier, &walks} // walks counted: a write must not walk it
	})
	reqs := [][]string{{"X-Test-Tier", "gold"}, {"X-Test-Tier", "free"}, {"X-Test-Tier", "gold", "Accept-Language", "de"}}
	for _, hdr := range reqs {
		s.do(t, "GET", "/s", hdr...)
		wantXCache(t, s.do(t, "GET", "/s", hdr...), "HIT")
	}
	if r := s.do(t, "POST", "/s"); r.status != 200 {
		t.Fatalf("POST: %d", r.status)
	}
	for _, hdr := range reqs {
		wantXCache(t, s.do(t, "GET", "/s", hdr...), "MISS")
	}
	if got := walks.Load(); got != 0 {
		t.Errorf("the write walked the tier %d times, want none", got)
	}
	// The URL's tag never shows.
	for _, hdr := range reqs {
		if r := s.do(t, "GET", "/s", hdr...); strings.Contains(r.header.Get("Surrogate-Key"), "url") {
			t.Fatalf("internal tag leaked: %q", r.header.Get("Surrogate-Key"))
		}
	}
}

// tierOnly hides every method of a tier but the cache.Tier ones and a
// Range that counts its walks and lists nothing.
type tierOnly struct {
	cache.Tier
	walks *atomic.Int64
}

func (t tierOnly) Range(func(string, *cache.Entry) bool) { t.walks.Add(1) }

func TestFillsShareABoundedBuffer(t *testing.T) {
	const size = 600 << 10
	half := make(chan struct{})
	gate := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", strconv.Itoa(size))
		if r.URL.Path == "/a" {
			_, _ = io.WriteString(w, strings.Repeat("a", size/2))
			w.(http.Flusher).Flush()
			close(half)
			<-gate
			_, _ = io.WriteString(w, strings.Repeat("a", size/2))
			return
		}
		_, _ = io.WriteString(w, strings.Repeat("b", size))
	})
	s := newGateway(t, o, nil, func(o *Options) { o.MaxObjectSize = 1 << 20; o.MaxFillBytes = 1 << 20 })
	done := make(chan result, 1)
	var gateOnce sync.Once
	release := func() { gateOnce.Do(func() { close(gate) }) }
	defer release() // a failed check must not leave the origin's handler waiting
	go func() { done <- s.do(t, "GET", "/a") }()
	<-half
	// The origin has sent half of /a; wait until moat has its header and
	// holds /a's share of the budget (else /b could take it first).
	for deadline := time.Now().Add(10 * time.Second); s.gw.fills.used.Load() == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the fill of /a never took its share of the budget")
		}
		runtime.Gosched()
	}
	busy := s.do(t, "GET", "/b")
	if !strings.Contains(busy.header.Get("Cache-Status"), "fills-busy") || len(busy.body) != size {
		t.Fatalf("second fill while the budget is held: Cache-Status %q, %d bytes; want fills-busy and the whole body",
			busy.header.Get("Cache-Status"), len(busy.body))
	}
	release()
	if a := <-done; !strings.Contains(a.header.Get("Cache-Status"), "stored") || len(a.body) != size {
		t.Fatalf("first fill: Cache-Status %q, %d bytes", a.header.Get("Cache-Status"), len(a.body))
	}
	wantXCache(t, s.do(t, "GET", "/a"), "HIT")
	s.do(t, "GET", "/b")
	wantXCache(t, s.do(t, "GET", "/b"), "HIT") // the budget came back
}

func TestOriginStallingMidBodyEndsTheFill(t *testing.T) {
	released := make(chan string, 2)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/known" {
			w.Header().Set("Content-Length", "1000")
		}
		_, _ = io.WriteString(w, "0123456789")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // stalls until moat gives up on it
		released <- r.URL.Path
	})
	s := newGateway(t, o, nil, func(o *Options) { o.OriginTimeout = 300 * time.Millisecond })
	for _, p := range []string{"/known", "/unknown"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", s.front.URL+p, nil)
		if resp, err := s.front.Client().Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body) // cut short
			resp.Body.Close()
		}
		cancel()
		select {
		case got := <-released:
			if got != p {
				t.Fatalf("released %s, want %s", got, p)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("%s: the stalled origin request was never ended", p)
		}
		if n := s.gw.Stats().Stored.Load(); n != 0 {
			t.Fatalf("%s: %d cut bodies stored", p, n)
		}
	}
}
