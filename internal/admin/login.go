package admin

// Login links: how `moat dashboard` opens the dashboard signed in without
// the admin token ever being in a URL.
//
//	moat dashboard --token T                   browser
//	  POST /api/login-link (Bearer T) ──► code C (one use, 60 s)
//	  opens http://admin/#login=C ──────────►  page strips the fragment (history.replaceState)
//	                                           POST /api/session {"code": C}
//	                                       ◄── session token S (12 h), C is spent
//	                                           Authorization: Bearer S on every call
//
// The code travels in the URL fragment, which a browser never sends to a
// server (so no access log or Referer holds it), and it is worthless once
// spent or after 60 s. The session token is as good as the admin token for
// the API, except that it cannot mint login links (a session cannot renew
// itself past its lifetime), it ends on POST /api/logout, and it ends when
// the admin token changes.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

const (
	// codeTTL is how long a login link works.
	codeTTL = 60 * time.Second
	// maxCodes bounds the outstanding login codes; a new one beyond it
	// drops the oldest, so a token holder cannot grow memory without end.
	maxCodes = 32
	// maxSessions bounds the live sessions; a new one beyond it ends the
	// oldest.
	maxSessions = 64
	// maxSessionBody bounds the body of POST /api/session.
	maxSessionBody = 1 << 10
	// DefaultSessionTTL is the lifetime of a dashboard session when
	// SessionsOptions.SessionTTL is zero.
	DefaultSessionTTL = 12 * time.Hour
)

// errTokenChanged refuses a login link asked for through a handler whose
// admin token is no longer the current one (a request in flight across a
// reload that changed admin.token).
var errTokenChanged = errors.New("admin: the admin token changed")

// SessionsOptions configure NewSessions.
type SessionsOptions struct {
	// SessionTTL is how long a session opened by a login link lasts. If
	// zero, DefaultSessionTTL (12 h).
	SessionTTL time.Duration
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

// Sessions holds the dashboard's outstanding login codes and the sessions
// they opened. It outlives one admin handler: the server makes one and
// passes it as Options.Sessions to every handler it builds, so a config
// reload does not sign the dashboard out. Only hashes (SHA-256) of codes
// and session tokens are kept.
//
// Codes and sessions belong to the admin token that granted them: a
// handler built with a different token (New with a new Options.Token)
// ends them all, since whoever held the old token granted them.
//
// Expired entries are dropped on every call; there is no goroutine to stop.
type Sessions struct {
	now        func() time.Time
	sessionTTL time.Duration

	mu       sync.Mutex
	token    [sha256.Size]byte // hash of the admin token that granted codes and sessions
	bound    bool              // token is set
	codes    []grant           // oldest first, at most maxCodes
	sessions []grant           // oldest first, at most maxSessions
}

// grant is a hashed code or session token and when it stops working.
type grant struct {
	hash    [sha256.Size]byte
	expires time.Time
}

// NewSessions returns an empty Sessions.
func NewSessions(o SessionsOptions) *Sessions {
	s := &Sessions{now: o.Now, sessionTTL: o.SessionTTL}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sessionTTL <= 0 {
		s.sessionTTL = DefaultSessionTTL
	}
	return s
}

// bind makes token (hashed) the one codes are granted under, ending every
// code and session when it differs from the previous one.
func (s *Sessions) bind(token [sha256.Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bound && s.token != token {
		s.codes, s.sessions = nil, nil
	}
	s.token, s.bound = token, true
}

// newCode returns a fresh one-time login code, granted under token.
func (s *Sessions) newCode(token [sha256.Size]byte) (string, error) {
	code := randomSecret()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.bound || s.token != token {
		return "", errTokenChanged
	}
	now := s.now()
	s.codes = add(prune(s.codes, now), grant{hash: sha256.Sum256([]byte(code)), expires: now.Add(codeTTL)}, maxCodes)
	return code, nil
}

// redeem spends code and returns a new session token, or ok false when
// the code is unknown, expired or spent. The code is removed under the
// lock, so of concurrent redeems of one code exactly one succeeds.
func (s *Sessions) redeem(code string) (token string, ttl time.Duration, ok bool) {
	sum := sha256.Sum256([]byte(code))
	token = randomSecret()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.codes = prune(s.codes, now)
	i := find(s.codes, sum)
	if i < 0 {
		return "", 0, false
	}
	s.codes = slices.Delete(s.codes, i, i+1)
	s.sessions = add(prune(s.sessions, now), grant{hash: sha256.Sum256([]byte(token)), expires: now.Add(s.sessionTTL)}, maxSessions)
	return token, s.sessionTTL, true
}

// live reports whether sum is the hash of an unexpired session token.
func (s *Sessions) live(sum [sha256.Size]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions = prune(s.sessions, s.now())
	return find(s.sessions, sum) >= 0
}

// end ends the session whose token hashes to sum, and reports whether
// there was one.
func (s *Sessions) end(sum [sha256.Size]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := find(s.sessions, sum)
	if i >= 0 {
		s.sessions = slices.Delete(s.sessions, i, i+1)
	}
	return i >= 0
}

// find returns the index of sum in gs, or -1. It compares every entry in
// constant time and never stops early, so its time does not depend on
// which entry (if any) matches.
func find(gs []grant, sum [sha256.Size]byte) int {
	at := -1
	for i := range gs {
		if subtle.ConstantTimeCompare(gs[i].hash[:], sum[:]) == 1 {
			at = i
		}
	}
	return at
}

func prune(gs []grant, now time.Time) []grant {
	return slices.DeleteFunc(gs, func(g grant) bool { return !now.Before(g.expires) })
}

// add appends g to gs, dropping the oldest entries beyond limit.
func add(gs []grant, g grant, limit int) []grant {
	gs = append(gs, g)
	if n := len(gs) - limit; n > 0 {
		gs = slices.Delete(gs, 0, n)
	}
	return gs
}

// randomSecret returns 32 random bytes, base64url without padding (43
// characters, safe in a URL fragment and a header).
func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// caller is who an authenticated request came from; the handlers of the
// login flow read it from the request's context.
type caller struct {
	session bool              // a session token, not the admin token
	hash    [sha256.Size]byte // hash of the bearer token
}

type callerKey struct{}

// authenticator admits a request that carries "Authorization: Bearer X"
// where X is the admin token or the token of a live session.
type authenticator struct {
	token    [sha256.Size]byte // hash of the admin token
	sessions *Sessions         // nil: the admin token only
}

func (a authenticator) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		// Both checks always run, each in constant time.
		admin := subtle.ConstantTimeCompare(sum[:], a.token[:]) == 1
		session := a.sessions != nil && a.sessions.live(sum)
		if !ok || got == "" || (!admin && !session) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="moat admin"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or invalid bearer token"})
			return
		}
		ctx := context.WithValue(r.Context(), callerKey{}, caller{session: !admin, hash: sum})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// loginLink answers POST /api/login-link (authenticated): a one-time code
// in the fragment of the dashboard's URL.
func loginLink(sessions *Sessions, token [sha256.Size]byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, _ := r.Context().Value(callerKey{}).(caller); c.session {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "a login link needs the admin token, not a dashboard session"})
			return
		}
		code, err := sessions.newCode(token)
		if err != nil {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the admin token changed; use the new one"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"url":                "/#login=" + code,
			"expires_in_seconds": int(codeTTL / time.Second),
		})
	}
}

// exchangeCode answers POST /api/session (no token): {"code": C} for a
// session token, once per code.
func exchangeCode(sessions *Sessions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSessionBody))
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body over 1 KiB"})
			return
		}
		var req struct {
			Code string `json:"code"`
		}
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil || req.Code == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want {"code": "..."} from a login link`})
			return
		}
		token, ttl, ok := sessions.redeem(req.Code)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid, expired or already used login code"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"token":              token,
			"expires_in_seconds": int(ttl / time.Second),
		})
	}
}

// logout answers POST /api/logout (authenticated): it ends the caller's
// session; with the admin token there is none to end.
func logout(sessions *Sessions) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(callerKey{}).(caller)
		ended := c.session && sessions.end(c.hash)
		writeJSON(w, http.StatusOK, map[string]bool{"session_ended": ended})
	}
}
