package gateway

import (
	"fmt"
	"github.com/moatproxy/moat/policy"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Clients that ask for a fresh answer (no-cache, max-age=0, Pragma) while
// a fill of their key is in flight get that fill's answer: it came from
// the origin after they asked, which is what they asked for (RFC 9111
// §5.2.1.4), so many such clients are one origin request, not one each.
func TestRevalidationsCoalesce(t *testing.T) {
	for _, hdr := range [][]string{{"Cache-Control", "no-cache"}, {"Cache-Control", "max-age=0"}, {"Pragma", "no-cache"}} {
		t.Run(hdr[0]+"="+hdr[1], func(t *testing.T) {
			gate := make(chan struct{})
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				<-gate
				w.Header().Set("Cache-Control", "max-age=60")
				fmt.Fprint(w, "fresh")
			})
			s := newGateway(t, o, nil, nil)
			const n = 20
			var wg sync.WaitGroup
			got := make(chan result, n)
			for range n {
				wg.Add(1)
				go func() { defer wg.Done(); got <- s.do(t, "GET", "/r", hdr...) }()
			}
			waitFor(t, "all but the leader to wait", func() bool { return s.gw.Stats().Collapsed.Load() == n-1 })
			close(gate)
			wg.Wait()
			close(got)
			for r := range got {
				if r.status != 200 || r.body != "fresh" {
					t.Errorf("got %d %q", r.status, r.body)
				}
			}
			if c := o.count("GET /r"); c != 1 {
				t.Fatalf("%d clients asking for a fresh answer at once made %d origin requests, want 1", n, c)
			}
		})
	}
}

// With IgnoreClientCacheControl, a client's no-cache does not reach the
// origin: the operator decides, not the client.
func TestClientCacheControlIgnored(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "x")
	})
	for _, tc := range []struct {
		name   string
		pols   []policy.Policy
		global bool
	}{
		{"route", []policy.Policy{{Pattern: "GET /c", IgnoreClientCacheControl: true}}, false},
		{"no_route", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newGateway(t, o, tc.pols, func(opt *Options) { opt.IgnoreClientCacheControl = tc.global })
			s.do(t, "GET", "/c?"+tc.name)
			before := o.count("GET /c?" + tc.name)
			for _, hdr := range [][]string{{"Cache-Control", "no-cache"}, {"Cache-Control", "max-age=0"}, {"Pragma", "no-cache"}, {"Cache-Control", "no-store"}} {
				if r := s.do(t, "GET", "/c?"+tc.name, hdr...); r.xcache() != "HIT" {
					t.Errorf("%s: %s, want HIT", hdr, r.header.Get("Cache-Status"))
				}
			}
			if got := o.count("GET /c?" + tc.name); got != before {
				t.Fatalf("origin requests %d -> %d", before, got)
			}
			if r := s.do(t, "GET", "/other-"+tc.name, "Cache-Control", "only-if-cached"); r.status != http.StatusGatewayTimeout {
				t.Errorf("only-if-cached is still honoured: got %d", r.status)
			}
		})
	}
}

// A background refresh the origin answers with a 5xx is counted and the
// stored entry stays, as for a refused connection.
func TestRefreshFailureByStatusIsCounted(t *testing.T) {
	var fail atomic.Bool
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Cache-Control", "max-age=10")
		fmt.Fprint(w, "v1")
	})
	s := newGateway(t, o, []policy.Policy{{Pattern: "GET /r", StaleWhileRevalidate: time.Minute}}, nil)
	s.do(t, "GET", "/r")
	s.clock.Advance(11 * time.Second)
	fail.Store(true)
	if r := s.do(t, "GET", "/r"); r.xcache() != "STALE" || r.body != "v1" {
		t.Fatalf("stale hit: %s %q", r.xcache(), r.body)
	}
	waitFor(t, "the refresh to fail", func() bool { return s.gw.Stats().RefreshErrors.Load() == 1 })
	if r := s.do(t, "GET", "/r"); r.body != "v1" {
		t.Fatalf("after the failed refresh: %q", r.body)
	}
}

// Responses refused for their size are counted, with a length or without.
func TestTooLargeIsCounted(t *testing.T) {
	big := strings.Repeat("x", 2048)
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
		}
		fmt.Fprint(w, big)
	})
	s := newGateway(t, o, nil, func(opt *Options) { opt.MaxObjectSize = 1024 })
	for i, path := range []string{"/length", "/chunked"} {
		if r := s.do(t, "GET", path); r.body != big {
			t.Fatalf("%s: %d bytes", path, len(r.body))
		}
		if got := s.gw.Stats().TooLarge.Load(); got != int64(i+1) {
			t.Fatalf("after %s: TooLarge %d, want %d", path, got, i+1)
		}
	}
}
