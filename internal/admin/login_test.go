package admin

import (
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const loginTestToken = "admin-token-for-login-tests"

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}
func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// loginServer is an admin listener with a /api/stats endpoint, a settable
// clock and a record of every response body of the login flow.
type loginServer struct {
	t        *testing.T
	url      string
	clock    *fakeClock
	sessions *Sessions
	mu       sync.Mutex
	bodies   []string
}

func newLoginServer(t *testing.T) *loginServer {
	t.Helper()
	clock := newFakeClock()
	ls := &loginServer{t: t, clock: clock, sessions: NewSessions(SessionsOptions{Now: clock.Now, SessionTTL: time.Hour})}
	srv := httptest.NewServer(New(Options{Token: loginTestToken, Sessions: ls.sessions, Stats: func() any { return map[string]int{"hits": 1} }}))
	t.Cleanup(srv.Close)
	ls.url = srv.URL
	return ls
}

// call sends method path with body and bearer (if any) and returns the
// status and body.
func (ls *loginServer) call(method, path, bearer, body string) (int, string) {
	ls.t.Helper()
	req, err := http.NewRequest(method, ls.url+path, strings.NewReader(body))
	if err != nil {
		ls.t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		ls.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	ls.mu.Lock()
	ls.bodies = append(ls.bodies, string(b))
	ls.mu.Unlock()
	return resp.StatusCode, string(b)
}

// code asks for a login link and returns its code.
func (ls *loginServer) code() string {
	ls.t.Helper()
	status, body := ls.call("POST", "/api/login-link", loginTestToken, "")
	var res struct {
		URL     string `json:"url"`
		Expires int    `json:"expires_in_seconds"`
	}
	if err := json.Unmarshal([]byte(body), &res); status != 200 || err != nil {
		ls.t.Fatalf("POST /api/login-link: %d %s", status, body)
	}
	code, ok := strings.CutPrefix(res.URL, "/#login=")
	if !ok || len(code) < 43 || res.Expires != 60 {
		ls.t.Fatalf("login link %+v: want /#login=CODE (256 bits) valid 60 s", res)
	}
	return code
}

// exchange trades code for a session token; ok is false on a 401.
func (ls *loginServer) exchange(code string) (token string, ok bool) {
	ls.t.Helper()
	status, body := ls.call("POST", "/api/session", "", `{"code":"`+code+`"}`)
	if status == http.StatusUnauthorized {
		if !strings.Contains(body, `"error"`) {
			ls.t.Errorf("401 without a JSON error: %s", body)
		}
		return "", false
	}
	var res struct {
		Token   string `json:"token"`
		Expires int    `json:"expires_in_seconds"`
	}
	if err := json.Unmarshal([]byte(body), &res); status != 200 || err != nil || res.Token == "" {
		ls.t.Fatalf("POST /api/session: %d %s", status, body)
	}
	if res.Token == loginTestToken || res.Expires != 3600 {
		ls.t.Fatalf("session %+v: want a token of its own, valid 3600 s", res)
	}
	return res.Token, true
}

func (ls *loginServer) stats(bearer string) int {
	ls.t.Helper()
	status, _ := ls.call("GET", "/api/stats", bearer, "")
	return status
}

func TestLoginLink(t *testing.T) {
	t.Run("code_is_single_use", func(t *testing.T) {
		ls := newLoginServer(t)
		code := ls.code()
		session, ok := ls.exchange(code)
		if !ok {
			t.Fatal("first exchange refused")
		}
		if got := ls.stats(session); got != 200 {
			t.Errorf("GET /api/stats with the session token = %d, want 200", got)
		}
		if _, ok := ls.exchange(code); ok {
			t.Error("second exchange of one code succeeded, want 401")
		}
	})

	t.Run("concurrent_exchanges_one_wins", func(t *testing.T) {
		ls := newLoginServer(t)
		code := ls.code()
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if _, ok := ls.exchange(code); ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if got := wins.Load(); got != 1 {
			t.Errorf("%d of 20 concurrent exchanges of one code succeeded, want 1", got)
		}
	})

	t.Run("expired_code", func(t *testing.T) {
		ls := newLoginServer(t)
		code := ls.code()
		ls.clock.Advance(60 * time.Second)
		if _, ok := ls.exchange(code); ok {
			t.Error("exchange 60 s after the link was made succeeded, want 401")
		}
		code = ls.code()
		ls.clock.Advance(59 * time.Second)
		if _, ok := ls.exchange(code); !ok {
			t.Error("exchange 59 s after the link was made refused, want a session")
		}
	})

	t.Run("unknown_code", func(t *testing.T) {
		ls := newLoginServer(t)
		ls.code()
		if _, ok := ls.exchange("not-a-code"); ok {
			t.Error("an unknown code opened a session")
		}
	})

	t.Run("session_expires", func(t *testing.T) {
		ls := newLoginServer(t)
		session, _ := ls.exchange(ls.code())
		ls.clock.Advance(time.Hour - time.Second)
		if got := ls.stats(session); got != 200 {
			t.Errorf("session just before its end: %d, want 200", got)
		}
		ls.clock.Advance(time.Second)
		if got := ls.stats(session); got != 401 {
			t.Errorf("session after SessionTTL: %d, want 401", got)
		}
	})

	t.Run("logout_ends_session", func(t *testing.T) {
		ls := newLoginServer(t)
		session, _ := ls.exchange(ls.code())
		other, _ := ls.exchange(ls.code())
		if status, body := ls.call("POST", "/api/logout", session, ""); status != 200 || !strings.Contains(body, `"session_ended": true`) {
			t.Errorf("POST /api/logout: %d %s", status, body)
		}
		if got := ls.stats(session); got != 401 {
			t.Errorf("session after logout: %d, want 401", got)
		}
		if got := ls.stats(other); got != 200 {
			t.Errorf("another session after one logged out: %d, want 200", got)
		}
		if status, body := ls.call("POST", "/api/logout", loginTestToken, ""); status != 200 || !strings.Contains(body, `"session_ended": false`) {
			t.Errorf("POST /api/logout with the admin token: %d %s", status, body)
		}
		if got := ls.stats(loginTestToken); got != 200 {
			t.Errorf("admin token after its logout: %d, want 200 (logout ends sessions only)", got)
		}
	})

	t.Run("session_cannot_mint_links", func(t *testing.T) {
		ls := newLoginServer(t)
		session, _ := ls.exchange(ls.code())
		if status, _ := ls.call("POST", "/api/login-link", session, ""); status != http.StatusForbidden {
			t.Errorf("POST /api/login-link with a session token: %d, want 403", status)
		}
		if status, _ := ls.call("POST", "/api/login-link", "", ""); status != http.StatusUnauthorized {
			t.Errorf("POST /api/login-link without a token: %d, want 401", status)
		}
	})

	t.Run("codes_are_bounded", func(t *testing.T) {
		ls := newLoginServer(t)
		codes := make([]string, 100)
		for i := range codes {
			codes[i] = ls.code()
		}
		for i, code := range codes {
			_, ok := ls.exchange(code)
			if want := i >= 100-maxCodes; ok != want {
				t.Errorf("code %d of 100: exchanged %v, want %v (only the last %d are kept)", i, ok, want, maxCodes)
			}
		}
	})

	t.Run("sessions_are_bounded", func(t *testing.T) {
		ls := newLoginServer(t)
		first, _ := ls.exchange(ls.code())
		for range maxSessions {
			ls.exchange(ls.code())
		}
		if got := ls.stats(first); got != 401 {
			t.Errorf("oldest of %d sessions: %d, want 401 (evicted)", maxSessions+1, got)
		}
		if n := len(ls.sessions.sessions); n != maxSessions {
			t.Errorf("%d sessions kept, want %d", n, maxSessions)
		}
	})

	t.Run("body_too_large", func(t *testing.T) {
		ls := newLoginServer(t)
		status, _ := ls.call("POST", "/api/session", "", `{"code":"`+strings.Repeat("a", 2<<10)+`"}`)
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("2 KiB body: %d, want 413", status)
		}
		if status, _ := ls.call("POST", "/api/session", "", `{"code":`); status != http.StatusBadRequest {
			t.Errorf("broken JSON: %d, want 400", status)
		}
	})

	t.Run("admin_token_never_in_responses", func(t *testing.T) {
		ls := newLoginServer(t)
		session, _ := ls.exchange(ls.code())
		ls.exchange("wrong")
		ls.call("POST", "/api/logout", session, "")
		ls.call("POST", "/api/session", "", strings.Repeat("x", 2<<10))
		ls.mu.Lock()
		defer ls.mu.Unlock()
		for _, b := range ls.bodies {
			if strings.Contains(b, loginTestToken) {
				t.Errorf("a response of the login flow holds the admin token: %s", b)
			}
		}
	})
}

// A handler rebuilt with the same Sessions (a config reload) keeps the
// sessions when the admin token is unchanged and ends them when it changed.
func TestSessionsAcrossReloads(t *testing.T) {
	clock := newFakeClock()
	sessions := NewSessions(SessionsOptions{Now: clock.Now})
	stats := func() any { return map[string]int{} }
	var current atomic.Pointer[http.Handler]
	swap := func(token string) {
		h := New(Options{Token: token, Sessions: sessions, Stats: stats})
		current.Store(&h)
	}
	swap("token-one")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*current.Load()).ServeHTTP(w, r) }))
	defer srv.Close()
	ls := &loginServer{t: t, url: srv.URL, clock: clock, sessions: sessions}
	post := func(path, bearer, body string) (int, string) { return ls.call("POST", path, bearer, body) }

	_, link := post("/api/login-link", "token-one", "")
	var res struct{ URL string }
	json.Unmarshal([]byte(link), &res)
	_, body := post("/api/session", "", `{"code":"`+strings.TrimPrefix(res.URL, "/#login=")+`"}`)
	var sess struct{ Token string }
	json.Unmarshal([]byte(body), &sess)
	_, pending := post("/api/login-link", "token-one", "")
	json.Unmarshal([]byte(pending), &res)
	pendingCode := strings.TrimPrefix(res.URL, "/#login=")

	swap("token-one")
	if got := ls.stats(sess.Token); got != 200 {
		t.Fatalf("session after a reload with the same token: %d, want 200", got)
	}
	swap("token-two")
	if got := ls.stats(sess.Token); got != 401 {
		t.Errorf("session after the admin token changed: %d, want 401", got)
	}
	if status, _ := post("/api/session", "", `{"code":"`+pendingCode+`"}`); status != 401 {
		t.Errorf("code of the old token after the change: %d, want 401", status)
	}
	// A handler still serving with the old token cannot mint codes.
	old := New(Options{Token: "token-two", Sessions: sessions})
	sessions.bind(sha256Of("token-three"))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/login-link", nil)
	req.Header.Set("Authorization", "Bearer token-two")
	old.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("login link from a handler whose token was replaced: %d, want 401", rec.Code)
	}
}

func TestRequireTokenAdmitsAdminTokenOnly(t *testing.T) {
	h := RequireToken("t0ken", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"admin_token", "Bearer t0ken", 200},
		{"empty_bearer", "Bearer ", 401},
		{"wrong", "Bearer nope", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Authorization", tt.auth)
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("got %d, want %d", rec.Code, tt.want)
			}
		})
	}
}

func sha256Of(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
