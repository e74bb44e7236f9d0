package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/policy"
)

// Regression tests from the review of the security change: background
// refreshes keep the request's base key and credentials rule, URL purges
// canonicalize like requests, and a shared failure carries nothing of the
// leader's own.

// waitIdle waits until no background refresh runs (a refresh stores before
// it ends: the fill body is read to its end first).
func waitIdle(t *testing.T, s *setup) {
	waitFor(t, "refresh done", func() bool {
		s.gw.refresher.mu.Lock()
		defer s.gw.refresher.mu.Unlock()
		return len(s.gw.refresher.inflight) == 0
	})
}

func TestRefreshedScopedEntrySurvivesWrite(t *testing.T) {
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			w.WriteHeader(204)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		fmt.Fprintf(w, "v%d", n.Add(1))
	})
	idx := cache.NewTagIndex(0)
	s := newGateway(t, o, []policy.Policy{{Pattern: "/deals", Scope: policy.ScopeTier}}, func(o *Options) {
		mem, _ := cache.NewMemory(cache.MemoryOptions{MaxBytes: 64 << 20, Now: o.Now, OnRemove: func(k string, e *cache.Entry) { idx.Remove(k, e) }})
		o.Identifier = headerIdentifier{}
		o.Tier = mem
		o.TagIndex = idx
	})
	s.do(t, "GET", "/deals", "X-Test-Tier", "gold")
	s.clock.Advance(15 * time.Second)
	r := s.do(t, "GET", "/deals", "X-Test-Tier", "gold")
	t.Logf("stale: %s %s", r.xcache(), r.body)
	waitIdle(t, s)
	r = s.do(t, "GET", "/deals", "X-Test-Tier", "gold")
	t.Logf("after refresh: %s %s", r.xcache(), r.body)
	w := s.do(t, "POST", "/deals", "X-Test-Tier", "gold")
	t.Logf("post: %d", w.status)
	r = s.do(t, "GET", "/deals", "X-Test-Tier", "gold")
	if r.xcache() == "HIT" {
		t.Errorf("after a write, still HIT %s", r.body)
	}
}

type authIdent struct{}

func (authIdent) HasCredentials(r *http.Request) bool { return r.Header.Get("Authorization") != "" }
func (authIdent) Identify(r *http.Request) Identity {
	a := r.Header.Get("Authorization")
	if a == "" {
		return Identity{Tier: "anonymous"}
	}
	return Identity{Tier: strings.TrimPrefix(a, "Bearer "), Credentialed: true, Valid: true}
}

func TestRefreshOfTierEntryWithAuthorizationDeletesIt(t *testing.T) {
	var n atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
		fmt.Fprintf(w, "v%d", n.Add(1))
	})
	s := newGateway(t, o, []policy.Policy{{Pattern: "/deals", Scope: policy.ScopeTier}}, func(o *Options) { o.Identifier = authIdent{} })
	r := s.do(t, "GET", "/deals", "Authorization", "Bearer gold")
	t.Logf("first: %s %s %s", r.xcache(), r.body, r.header.Get("Cache-Status"))
	s.clock.Advance(15 * time.Second)
	r = s.do(t, "GET", "/deals", "Authorization", "Bearer gold")
	t.Logf("stale: %s %s", r.xcache(), r.body)
	waitIdle(t, s)
	r = s.do(t, "GET", "/deals", "Authorization", "Bearer gold")
	if r.xcache() != "HIT" {
		t.Errorf("after SWR refresh: %s %s %s", r.xcache(), r.body, r.header.Get("Cache-Status"))
	}
}

func TestRefreshWithNonAuthorizationCredentialShares(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if tier := r.Header.Get("X-Test-Tier"); tier != "" {
			w.Header().Set("Cache-Control", "max-age=10, stale-while-revalidate=60")
			fmt.Fprintf(w, "private for %s", tier)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=10, stale-while-revalidate=60")
		fmt.Fprint(w, "anon")
	})
	s := newGateway(t, o, nil, func(o *Options) { o.Identifier = headerIdentifier{} })
	s.do(t, "GET", "/free")
	s.clock.Advance(15 * time.Second)
	r := s.do(t, "GET", "/free", "X-Test-Tier", "gold")
	t.Logf("gold: %s %s", r.xcache(), r.body)
	waitIdle(t, s)
	r = s.do(t, "GET", "/free")
	if strings.Contains(r.body, "gold") {
		t.Errorf("anonymous got %q (%s)", r.body, r.xcache())
	}
}

func TestPurgeURLNilNormalizer(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "x")
	})
	s := newGateway(t, o, nil, nil)
	s.do(t, "GET", "/a/%7Eb")
	wantXCache(t, s.do(t, "GET", "/a/%7Eb"), "HIT")
	if _, err := s.gw.Purge(context.Background(), Purge{URLs: []string{s.front.URL + "/a/%7Eb"}}); err != nil {
		t.Fatal(err)
	}
	if r := s.do(t, "GET", "/a/%7Eb"); r.xcache() == "HIT" {
		t.Errorf("purge by the URL as requested missed the entry")
	}
}

func TestSharedErrorCarriesNoSetCookie(t *testing.T) {
	gate := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		<-gate
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "leader-" + r.Header.Get("X-Who")})
		w.WriteHeader(503)
		fmt.Fprint(w, "err")
	})
	s := newGateway(t, o, nil, nil)
	var wg sync.WaitGroup
	got := make(chan result, 2)
	wg.Add(1)
	go func() { defer wg.Done(); got <- s.do(t, "GET", "/x", "X-Who", "0") }()
	waitFor(t, "the leader at the origin", func() bool { return o.total.Load() == 1 })
	wg.Add(1)
	go func() { defer wg.Done(); got <- s.do(t, "GET", "/x", "X-Who", "1") }()
	waitFor(t, "the waiter", func() bool { return s.gw.Stats().Collapsed.Load() == 1 })
	close(gate)
	wg.Wait()
	close(got)
	for r := range got {
		if r.status != 503 || r.body != "err" {
			t.Errorf("got %d %q, want the origin's 503", r.status, r.body)
		}
		if strings.Contains(r.header.Get("Cache-Status"), "collapsed") && r.header.Get("Set-Cookie") != "" {
			t.Errorf("the waiter got the leader's cookie %q", r.header.Get("Set-Cookie"))
		}
	}
	if n := o.total.Load(); n != 1 {
		t.Errorf("origin requests = %d, want 1", n)
	}
}
