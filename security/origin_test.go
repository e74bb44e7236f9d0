package security

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// Class: origin faults. The origin is trusted to say what may be cached,
// but not to be healthy: it truncates bodies, fails, hangs, answers slowly.
// The rules: only a complete, storable answer is stored; what the origin
// forbids (private, no-store, Set-Cookie, Vary: *) is never stored or never
// served; a burst of requests for a failing key makes one origin request; a
// slow client never holds the others hostage.

// hijack writes raw bytes as the origin's answer and closes the connection.
func hijack(w http.ResponseWriter, raw string) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	buf.WriteString(raw)
	buf.Flush()
	conn.Close()
}

func TestOriginFaultsNeverStored(t *testing.T) {
	var n atomic.Int64
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		i := n.Add(1)
		path, _, _ := strings.Cut(ex.RequestURI, "?")
		switch path {
		case "/truncated-length":
			hijack(w, "HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\nContent-Length: 1000\r\n\r\n"+strings.Repeat("t", 500))
		case "/truncated-chunked":
			hijack(w, "HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n"+strings.Repeat("t", 500)+"\r\n")
		case "/truncated-chunk-mid":
			hijack(w, "HTTP/1.1 200 OK\r\nCache-Control: public, max-age=60\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n"+strings.Repeat("t", 500))
		case "/reset":
			hijack(w, "")
		case "/garbage":
			hijack(w, "NOT HTTP AT ALL\r\n\r\n")
		case "/set-cookie":
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Set-Cookie", fmt.Sprintf("session=s%d; HttpOnly", i))
			fmt.Fprintf(w, "answer %d", i)
		case "/vary-star":
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Vary", "*")
			fmt.Fprintf(w, "answer %d", i)
		case "/status-500", "/status-502", "/status-503":
			w.Header().Set("Cache-Control", "public, max-age=60")
			var code int
			fmt.Sscanf(path, "/status-%d", &code)
			w.WriteHeader(code)
			fmt.Fprintf(w, "answer %d", i)
		case "/partial":
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Content-Range", "bytes 0-3/100")
			w.WriteHeader(http.StatusPartialContent)
			fmt.Fprint(w, "part")
		case "/too-large", "/too-large-chunked":
			w.Header().Set("Cache-Control", "public, max-age=60")
			if path == "/too-large" {
				w.Header().Set("Content-Length", fmt.Sprint(2<<20))
			}
			w.Write(bytes.Repeat([]byte("L"), 2<<20))
		default:
			// [/ovr]/cc/<Cache-Control>: answer with that Cache-Control.
			if cc, ok := strings.CutPrefix(strings.TrimPrefix(path, "/ovr"), "/cc/"); ok {
				w.Header().Set("Cache-Control", strings.ReplaceAll(cc, "_", " "))
			}
			fmt.Fprintf(w, "answer %d", i)
		}
	}, `cache:
  max_object_size: 1MiB
routes:
  - match: GET /ovr/{rest...}
    ttl: 1h
    override_origin: true
`)
	cases := []struct {
		name, path string
		rule       string
	}{
		// Every case's second request must reach the origin. Cases whose
		// name starts with "revalidate_" may be stored (RFC 9111 lets a
		// cache keep them for revalidation); the others must not be.
		{"truncated_content_length", "/truncated-length", "a body shorter than its Content-Length is never stored"},
		{"truncated_chunked", "/truncated-chunked", "a chunked body without its last chunk is never stored"},
		{"truncated_inside_chunk", "/truncated-chunk-mid", "a body cut inside a chunk is never stored"},
		{"connection_reset", "/reset", "an origin that closes without answering gets a 502, not stored"},
		{"not_http", "/garbage", "a malformed answer gets a 502, not stored"},
		{"set_cookie", "/set-cookie", "a response with Set-Cookie is not stored (another client would get the cookie)"},
		{"vary_star", "/vary-star", "Vary: * is never served from the cache (RFC 9111 §4.1)"},
		{"status_500", "/status-500", "5xx answers are not stored"},
		{"status_502", "/status-502", "5xx answers are not stored"},
		{"status_503", "/status-503", "5xx answers are not stored"},
		{"partial_content", "/partial", "206 answers are not stored (ranges are not implemented)"},
		{"too_large", "/too-large", "a body over max_object_size is passed through, not stored"},
		{"too_large_chunked", "/too-large-chunked", "a body of unknown length over max_object_size is not stored"},
		{"private", "/cc/private,_max-age=60", "private is never stored by a shared cache"},
		{"no_store", "/cc/no-store,_max-age=60", "no-store is never stored"},
		{"revalidate_no_cache", "/cc/no-cache,_max-age=60", "no-cache is never served without revalidation"},
		{"revalidate_max_age_zero", "/cc/max-age=0", "max-age=0 is never served fresh"},
		{"revalidate_s_maxage_zero", "/cc/s-maxage=0,_max-age=60", "s-maxage=0 wins over max-age in a shared cache"},
		{"override_keeps_private", "/ovr/cc/private", "override_origin never overrides private"},
		{"override_keeps_no_store", "/ovr/cc/no-store", "override_origin never overrides no-store"},
		{"revalidate_override_keeps_no_cache", "/ovr/cc/no-cache", "override_origin never overrides no-cache"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// rule: see c.rule.
			first := e.get(c.path)
			if first.err == nil && first.stored() && !strings.HasPrefix(c.name, "revalidate_") {
				t.Errorf("%s: Cache-Status says stored: %v", c.rule, first)
			}
			before := e.origin.count()
			second := e.get(c.path)
			if second.hit() || e.origin.count() != before+1 {
				t.Errorf("%s: second request %v was not sent to the origin", c.rule, second)
			}
			if c.name == "set_cookie" && first.err == nil && first.header.Get("Set-Cookie") != "" &&
				second.header.Get("Set-Cookie") == first.header.Get("Set-Cookie") {
				t.Errorf("%s: the second client got the first one's cookie %q", c.rule, first.header.Get("Set-Cookie"))
			}
		})
	}
	t.Run("allow_set_cookie_strips_the_cookie", func(t *testing.T) {
		// rule: with allow_set_cookie the stored copy has no Set-Cookie:
		// later clients never receive another client's cookie.
		e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
			w.Header().Set("Cache-Control", "public, max-age=60")
			w.Header().Set("Set-Cookie", "session=first-client; HttpOnly")
			fmt.Fprint(w, "page")
		}, "routes:\n  - match: GET /page\n    allow_set_cookie: true\n")
		first := e.get("/page")
		if first.header.Get("Set-Cookie") == "" {
			t.Errorf("the filling client lost its own cookie: %v", first)
		}
		if second := e.get("/page"); !second.hit() || second.header.Get("Set-Cookie") != "" {
			t.Errorf("second client: %v, Set-Cookie %q; want a HIT without the cookie", second, second.header.Get("Set-Cookie"))
		}
	})
}

// gate is an origin answer that holds every request until it is opened.
type gate struct {
	open chan struct{}
	once sync.Once
}

// newGate returns a closed gate. Register t.Cleanup(g.release) after start,
// so that it runs before the server and the origin shut down: a handler
// left blocked would hold up their shutdown.
func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// wait blocks until the gate opens or the request is abandoned.
func (g *gate) wait(r *http.Request) bool {
	select {
	case <-g.open:
		return true
	case <-r.Context().Done():
		return false
	}
}

func TestOriginStormsCoalesce(t *testing.T) {
	const n = 20
	t.Run("hanging_origin", func(t *testing.T) {
		// rule: 20 concurrent requests for one key whose origin hangs make
		// one origin request.
		g := newGate()
		e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
			g.wait(r)
		}, "", withOrigin("timeout: 1s"))
		t.Cleanup(g.release)
		var codes sync.Map
		parallel(n, func(i int) {
			r := e.get("/storm")
			codes.Store(i, r.status)
		})
		if got := e.origin.count(); got != 1 {
			t.Errorf("origin requests: %d, want 1", got)
		}
		codes.Range(func(k, v any) bool {
			if v.(int) != http.StatusGatewayTimeout && v.(int) != http.StatusBadGateway && v.(int) != http.StatusServiceUnavailable {
				t.Errorf("request %v: status %v, want a 5xx of moat's own", k, v)
			}
			return true
		})
	})
	t.Run("origin_answers_500", func(t *testing.T) {
		// rule: 20 concurrent requests for one key whose origin answers 500
		// make one origin request.
		g := newGate()
		e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
			g.wait(r)
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "origin failure")
		}, "")
		t.Cleanup(g.release)
		done := make(chan struct{})
		go func() {
			defer close(done)
			parallel(n, func(i int) { e.get("/storm") })
		}()
		waitCollapsed(t, e, n-1)
		g.release()
		<-done
		if got := e.origin.count(); got != 1 {
			t.Errorf("origin requests: %d, want 1", got)
		}
	})
	t.Run("stale_if_error_serves_waiters", func(t *testing.T) {
		// rule: with a stored entry within stale-if-error, the waiters of a
		// failing fill all get the stale entry, and the origin is asked once.
		g := newGate()
		var warm atomic.Bool
		e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
			if !warm.Load() {
				// Already 100 s old on arrival: stale at once, within
				// stale-if-error.
				w.Header().Set("Cache-Control", "max-age=60, stale-if-error=600")
				w.Header().Set("Age", "100")
				fmt.Fprint(w, "stale but good")
				return
			}
			g.wait(r)
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprint(w, "origin failure")
		}, "routes:\n  - match: GET /storm\n    stale_if_error: 10m\n")
		t.Cleanup(g.release)
		if w := e.get("/storm"); !w.stored() {
			t.Fatalf("warm-up not stored: %v", w)
		}
		warm.Store(true)
		var mu sync.Mutex
		var wrong []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			parallel(n, func(i int) {
				if r := e.get("/storm"); r.status != http.StatusOK || r.body != "stale but good" {
					mu.Lock()
					wrong = append(wrong, r.String())
					mu.Unlock()
				}
			})
		}()
		waitCollapsed(t, e, n-1)
		g.release()
		<-done
		for _, w := range wrong {
			t.Errorf("waiter answered %s, want the stale entry", w)
		}
		if got := e.origin.count(); got != 2 {
			t.Errorf("origin requests: %d, want 2 (the warm-up and one for the storm)", got)
		}
	})
}

// waitCollapsed waits until n requests wait on a coalesced fill (or, if moat
// answers waiters another way, until the origin has been asked and n more
// requests arrived: the counter is the observable state).
func waitCollapsed(t *testing.T, e *env, n int) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d coalesced waiters", n), func() bool {
		return e.srv.Gateway().Stats().Collapsed.Load() >= int64(n)
	})
}

func TestOriginSlowLeadingClient(t *testing.T) {
	// rule: a client that stops reading a large answer does not stall the
	// requests coalesced on its fill: they are answered from the cache once
	// the origin has sent the whole body, with one origin request in all.
	const size = 8 << 20
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	e := start(t, func(w http.ResponseWriter, r *http.Request, ex exchange) {
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Write(body)
	}, "cache:\n  memory: 512MiB\n  max_object_size: 16MiB\n")

	// The leader: a tiny receive window, and it never reads.
	d := net.Dialer{Timeout: ioTimeout, Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return serr
	}}
	leader, err := d.Dial("tcp", e.proxy)
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	io.WriteString(leader, "GET /big HTTP/1.1\r\nHost: example.test\r\n\r\n")
	eventually(t, "the leader's origin request", func() bool { return e.origin.count() == 1 })

	const waiters = 5
	var mu sync.Mutex
	var wrong []string
	var wg sync.WaitGroup
	for range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.get("/big")
			if r.err != nil || r.status != http.StatusOK || len(r.body) != size || r.body != string(body) {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("status %d, %d bytes, err %v", r.status, len(r.body), r.err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait() // each e.get is bounded by ioTimeout
	for _, w := range wrong {
		t.Errorf("waiter: %s; want the full body while the leader is stalled", w)
	}
	if got := e.origin.count(); got != 1 {
		t.Errorf("origin requests: %d, want 1", got)
	}
}
