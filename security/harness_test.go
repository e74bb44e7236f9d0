package security

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
	"github.com/moatproxy/moat/internal/syncbuf"
)

// Secrets of the suite. None of them may ever show up in a key, a log line,
// an admin answer or a Cache-Status.
const (
	adminToken  = "sec-suite-admin-7f3a9c1e5b2d4f60a8"
	jwtSecret   = "sec-suite-hs256-secret-0123456789abcdef"
	premiumKey  = "sec-suite-premium-api-key-31f2"
	freeKey     = "sec-suite-free-api-key-9a8b7c6d"
	ioTimeout   = 10 * time.Second // bound on any single client exchange
	waitTimeout = 10 * time.Second // bound on polling for observable state
)

// exchange is one request exactly as the origin received it.
type exchange struct {
	Method     string
	RequestURI string
	Host       string
	Proto      string
	Header     http.Header
	Body       []byte
	BodyErr    error
}

// answerFunc decides the origin's answer to one request. body is the request
// body the origin read (and ex its record).
type answerFunc func(w http.ResponseWriter, r *http.Request, ex exchange)

// origin is a real HTTP server on loopback that records what it receives
// and lets each case decide the answer.
type origin struct {
	srv    *httptest.Server
	answer answerFunc

	mu   sync.Mutex
	seen []exchange
	// arrived receives every exchange as it is recorded (non-blocking: a
	// full channel drops, the log keeps it).
	arrived chan exchange
}

func newOrigin(t *testing.T, answer answerFunc) *origin {
	t.Helper()
	if answer == nil {
		answer = echo("public, max-age=60")
	}
	o := &origin{answer: answer, arrived: make(chan exchange, 1024)}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		ex := exchange{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Proto: r.Proto,
			Header: r.Header.Clone(), Body: body, BodyErr: err}
		o.mu.Lock()
		o.seen = append(o.seen, ex)
		o.mu.Unlock()
		select {
		case o.arrived <- ex:
		default:
		}
		o.answer(w, r, ex)
	}))
	return o
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

func (o *origin) requests() []exchange {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]exchange(nil), o.seen...)
}

func (o *origin) last() exchange {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.seen) == 0 {
		return exchange{}
	}
	return o.seen[len(o.seen)-1]
}

// countWhere counts recorded requests matching pred.
func (o *origin) countWhere(pred func(exchange) bool) int {
	n := 0
	for _, ex := range o.requests() {
		if pred(ex) {
			n++
		}
	}
	return n
}

// sawURI reports whether any request's RequestURI contains s.
func (o *origin) sawURI(s string) bool {
	return o.countWhere(func(ex exchange) bool { return strings.Contains(ex.RequestURI, s) }) > 0
}

// echo answers with cc as Cache-Control and a body naming what the origin
// received: method, request URI, Host and X-Forwarded-Host.
func echo(cc string) answerFunc {
	return func(w http.ResponseWriter, r *http.Request, ex exchange) {
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, echoBody(ex))
	}
}

func echoBody(ex exchange) string {
	return fmt.Sprintf("%s %s host=%s xfh=%s", ex.Method, ex.RequestURI, ex.Host, ex.Header.Get("X-Forwarded-Host"))
}

// env is one moat in front of one recording origin.
type env struct {
	t      *testing.T
	origin *origin
	srv    *server.Server
	cfg    *config.Config
	proxy  string // host:port of the gateway listener
	admin  string // host:port of the admin listener
	logs   *syncBuffer
	http   *http.Client
}

type settings struct {
	originYAML string // more keys of the origin mapping, one "key: value" per line
	logLevel   string
}

type option func(*settings)

// withOrigin adds keys to the origin: mapping (e.g. "host_header: client").
func withOrigin(lines ...string) option {
	return func(s *settings) { s.originYAML += strings.Join(lines, "\n") + "\n" }
}

// withLog sets log.level (the suite's default is warn).
func withLog(level string) option { return func(s *settings) { s.logLevel = level } }

// config renders the full config file: listeners on free loopback ports, the
// admin token, the origin, then body (every other section).
func renderConfig(originURL, body string, s settings) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:0\nadmin:\n  listen: 127.0.0.1:0\n  token: %q\norigin:\n  url: %s\n", adminToken, originURL)
	if !strings.Contains("\n"+s.originYAML, "\ntimeout:") {
		b.WriteString("  timeout: 5s\n")
	}
	for _, l := range strings.Split(strings.TrimSpace(s.originYAML), "\n") {
		if l != "" {
			b.WriteString("  " + l + "\n")
		}
	}
	b.WriteString(strings.TrimLeft(body, "\n"))
	return b.String()
}

// start runs a moat configured by body (YAML, without listen/admin/origin)
// in front of a new origin answering with answer (nil: echo, public for 60s).
// It goes through the same path as `moat serve`: the YAML is written to a
// file, config.Load and ValidateServe check it, server.New builds it and
// Start binds free loopback ports.
func start(t *testing.T, answer answerFunc, body string, opts ...option) *env {
	t.Helper()
	s := settings{logLevel: "warn"}
	for _, o := range opts {
		o(&s)
	}
	o := newOrigin(t, answer)
	t.Cleanup(o.srv.Close) // runs last: after the server has shut down
	text := renderConfig(o.srv.URL, body, s)
	if !strings.Contains(body, "\nlog:") && !strings.HasPrefix(body, "log:") {
		text += fmt.Sprintf("log:\n  level: %s\n", s.logLevel)
	}
	path := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = cfg.ValidateServe()
	}
	if err != nil {
		t.Fatalf("config rejected (the case needs a config key moat does not accept yet?):\n%v\n--- config ---\n%s", err, text)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}))
	srv, err := server.New(cfg, log)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	proxy, admin, err := srv.Start()
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	e := &env{t: t, origin: o, srv: srv, cfg: cfg, proxy: proxy, admin: admin, logs: logs,
		http: &http.Client{Timeout: ioTimeout, Transport: &http.Transport{Proxy: nil}}}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Logf("shutdown: %v", err)
		}
		e.http.CloseIdleConnections()
		if t.Failed() {
			if l := logs.String(); l != "" {
				t.Logf("moat log (tail):\n%s", tail(l, 3000))
			}
		}
	})
	return e
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = syncbuf.Buffer

// req is one client request, written byte for byte by raw.
type req struct {
	method  string   // default GET
	target  string   // request-target exactly as sent
	host    string   // Host field; default "example.test"; "-" sends none
	headers []string // "Name: value" lines, sent as given
	body    string   // sent after the header; Content-Length is not added
}

// res is a client's view of one response.
type res struct {
	status int
	header http.Header
	body   string
	err    error
}

func (r res) xcache() string      { return r.header.Get("X-Cache") }
func (r res) cacheStatus() string { return r.header.Get("Cache-Status") }
func (r res) hit() bool           { return r.xcache() == "HIT" }
func (r res) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d X-Cache=%s Cache-Status=%q body=%.120q", r.status, r.xcache(), r.cacheStatus(), r.body)
}

// stored reports whether Cache-Status says the response was stored.
func (r res) stored() bool { return hasParam(r.cacheStatus(), "stored") }

// hasParam reports whether a Cache-Status member has the bare parameter p
// or p=value (for "fwd=bypass").
func hasParam(cs, p string) bool {
	for _, part := range strings.Split(cs, ";") {
		if strings.TrimSpace(part) == p {
			return true
		}
	}
	return false
}

// build renders r as HTTP/1.1 bytes with Connection: close.
func (r req) build() string {
	var b strings.Builder
	m := r.method
	if m == "" {
		m = "GET"
	}
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", m, r.target)
	switch r.host {
	case "":
		b.WriteString("Host: example.test\r\n")
	case "-":
	default:
		b.WriteString("Host: " + r.host + "\r\n")
	}
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.WriteString(r.body)
	return b.String()
}

// do sends r over a new TCP connection exactly as built and reads one
// response.
func (e *env) do(r req) res {
	e.t.Helper()
	return rawOne(e.proxy, r.build(), r.method)
}

// get is do for a GET of target with header lines.
func (e *env) get(target string, headers ...string) res {
	e.t.Helper()
	return e.do(req{target: target, headers: headers})
}

func rawOne(addr, payload, method string) res {
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		return res{err: err}
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(conn, payload); err != nil {
		return res{err: err}
	}
	return readOne(conn, method)
}

// readOne reads one response to a request of method from conn.
func readOne(conn net.Conn, method string) res {
	if method == "" {
		method = "GET"
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		return res{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return res{status: resp.StatusCode, header: resp.Header, body: string(b), err: err}
}

// conversation is what came back on one raw connection: every response
// moat wrote, and whether it closed the connection.
type conversation struct {
	responses []res
	closed    bool // EOF before the deadline
	err       error
}

// converse writes payload on one connection (without adding anything) and
// reads responses until the connection closes or wait passes without one.
func converse(addr, payload string, wait time.Duration) conversation {
	var c conversation
	conn, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		c.err = err
		return c
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(conn, payload); err != nil {
		c.err = err
		return c
	}
	br := bufio.NewReader(conn)
	for {
		conn.SetReadDeadline(time.Now().Add(wait))
		if _, err := br.Peek(1); err != nil {
			var ne net.Error
			c.closed = !(errors.As(err, &ne) && ne.Timeout())
			return c
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			c.err = err
			return c
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.responses = append(c.responses, res{status: resp.StatusCode, header: resp.Header, body: string(b), err: err})
		if resp.Close {
			// The server said it closes; confirm.
			conn.SetReadDeadline(time.Now().Add(wait))
			_, err := br.Peek(1)
			var ne net.Error
			c.closed = err != nil && !(errors.As(err, &ne) && ne.Timeout())
			return c
		}
	}
}

// adminDo sends an admin request with "Authorization: <auth>" when auth is
// not empty.
func (e *env) adminDo(method, path, auth, body string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, "http://"+e.admin+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	resp, err := e.http.Do(r)
	if err != nil {
		e.t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// purge runs an admin purge with the right token.
func (e *env) purge(body string) (int, string) {
	e.t.Helper()
	return e.adminDo("POST", "/purge", "Bearer "+adminToken, body)
}

// inspect asks the admin API how moat sees a GET of target on the gateway
// (with Host example.test) and the given "Name: value" headers.
func (e *env) inspect(target string, headers ...string) map[string]any {
	e.t.Helper()
	q := url.Values{"url": {"http://example.test" + target}}
	for _, h := range headers {
		q.Add("header", h)
	}
	code, body := e.adminDo("GET", "/api/inspect?"+q.Encode(), "Bearer "+adminToken, "")
	if code != http.StatusOK {
		e.t.Fatalf("inspect %s: %d %s", target, code, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		e.t.Fatalf("inspect %s: %v", target, err)
	}
	return m
}

// stats returns the admin /api/stats document.
func (e *env) stats() map[string]any {
	e.t.Helper()
	code, body := e.adminDo("GET", "/api/stats", "Bearer "+adminToken, "")
	if code != http.StatusOK {
		e.t.Fatalf("stats: %d %s", code, body)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not synchronization
	}
}

// parallel runs n calls of fn at once (released together) and waits.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			fn(i)
		}()
	}
	close(gate)
	wg.Wait()
}

// token signs an HS256 JWT with claims (exp defaults to an hour from now).
func token(t *testing.T, secret string, claims jwt.MapClaims) string {
	t.Helper()
	if v, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	} else if v == nil {
		delete(claims, "exp") // a token without exp
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userToken is a valid token of tier for subject sub.
func userToken(t *testing.T, tier, sub string) string {
	return token(t, jwtSecret, jwt.MapClaims{"tier": tier, "sub": sub})
}

// noneToken is an unsigned token (alg: none) claiming tier.
func noneToken(t *testing.T, tier string) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"tier": tier, "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verify is the origin's own check of a bearer token: it returns the
// claims, or ok false for anything it cannot verify.
func verify(raw string) (jwt.MapClaims, bool) {
	raw, _ = strings.CutPrefix(raw, "Bearer ")
	tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return []byte(jwtSecret), nil }, jwt.WithValidMethods([]string{"HS256"}))
	if err != nil || !tok.Valid {
		return nil, false
	}
	c, _ := tok.Claims.(jwt.MapClaims)
	return c, true
}

// authYAML is an auth section with every source: HS256 JWTs in
// Authorization, two API keys, and a trusted tier header accepted only from
// 10.0.0.0/8 (so from the suite's loopback clients it is a forgery).
const authYAML = `auth:
  tiers: [anonymous, free, premium]
  jwt: {hs256_secret: "` + jwtSecret + `", tier_claim: tier}
  api_keys:
    header: X-API-Key
    keys:
      partner: {key: "` + premiumKey + `", tier: premium, subject: acme}
      hobby: {key: "` + freeKey + `", tier: free, subject: hobbyist}
  trusted_header: {header: X-User-Tier, subject_header: X-User-Id, from: [10.0.0.0/8]}
`

// identityOf is the origin's view of who a request is, by the same rules as
// moat's auth section (authYAML): "jwt:tier/subject", "key:tier/subject",
// "anonymous", or "rejected".
func identityOf(h http.Header) string {
	if a := h.Get("Authorization"); a != "" {
		c, ok := verify(a)
		if !ok {
			return "rejected"
		}
		return fmt.Sprintf("jwt:%v/%v", c["tier"], c["sub"])
	}
	switch h.Get("X-API-Key") {
	case "":
	case premiumKey:
		return "key:premium/acme"
	case freeKey:
		return "key:free/hobbyist"
	default:
		return "rejected"
	}
	if h.Get("X-User-Tier") != "" {
		return "rejected" // the suite's clients are never trusted peers
	}
	return "anonymous"
}

// tierOf is the tier of an identityOf value ("anonymous" and "rejected"
// stand for themselves).
func tierOf(id string) string {
	_, rest, found := strings.Cut(id, ":")
	if !found {
		return id // "anonymous" or "rejected"
	}
	t, _, _ := strings.Cut(rest, "/")
	return t
}
