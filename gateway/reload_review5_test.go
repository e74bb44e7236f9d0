package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// A URL purge made through the handler of configuration B does not reach
// the entries configuration A stored under its own fingerprint: reverting
// to A (A → B → A, an operator undoing a change) serves the purged
// response again (DESIGN invariant 5: no purge is ever undone).
func TestReview5URLPurgeUndoneByRevertedReload(t *testing.T) {
	var version atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "v%d", version.Load())
	})
	polsA := []policy.Policy{{Pattern: "GET /r/{id}", TTL: time.Hour, OverrideOrigin: true}}
	polsB := []policy.Policy{{Pattern: "GET /r/{id}", TTL: 30 * time.Minute, OverrideOrigin: true}}
	s := newGateway(t, o, polsA, nil)
	if b := serveDirect(s.gw, "GET", "/r/1").Body.String(); b != "v0" {
		t.Fatalf("fill: %q", b)
	}
	b := reloadWith(t, s, o, s.gw, polsB, nil)
	s.gw.Close()
	version.Store(1)
	if _, err := b.Purge(context.Background(), Purge{URLs: []string{"http://moat.test/r/1"}}); err != nil {
		t.Fatal(err)
	}
	a2 := reloadWith(t, s, o, b, polsA, nil)
	b.Close()
	if got := serveDirect(a2, "GET", "/r/1").Body.String(); got != "v1" {
		t.Errorf("after a URL purge and a revert to the first configuration: %q, want v1 (the purged v0 is served again)", got)
	}
}

// A fill in flight on the old handler of a changed route is not stopped by
// a URL purge made through the new handler (it stamps the new handler's
// key only), and stores the pre-purge response under the old key.
func TestReview5URLPurgeMissesOldHandlerFill(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	var slow atomic.Bool
	var version atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		v := version.Load()
		if slow.Load() {
			started <- struct{}{}
			<-release
		}
		fmt.Fprintf(w, "v%d", v)
	})
	polsA := []policy.Policy{{Pattern: "GET /r/{id}", TTL: time.Hour, OverrideOrigin: true}}
	polsB := []policy.Policy{{Pattern: "GET /r/{id}", TTL: 30 * time.Minute, OverrideOrigin: true}}
	s := newGateway(t, o, polsA, nil)
	slow.Store(true)
	done := make(chan string)
	go func() { done <- serveDirect(s.gw, "GET", "/r/1").Body.String() }()
	<-started
	slow.Store(false)
	b := reloadWith(t, s, o, s.gw, polsB, nil)
	version.Store(1)
	if _, err := b.Purge(context.Background(), Purge{URLs: []string{"http://moat.test/r/1"}}); err != nil {
		t.Fatal(err)
	}
	close(release)
	<-done
	// The old handler's key now holds v0, stored after the purge.
	if x := serveDirect(s.gw, "GET", "/r/1"); x.Header().Get("X-Cache") == "HIT" && x.Body.String() == "v0" {
		t.Errorf("a fill that began before a URL purge stored its response after it (old handler: HIT v0)")
	}
}

// A range request for a response moat does not store (no-store) starts a
// background fetch of the whole response every time: each 1-byte range an
// attacker asks for costs the origin the whole body.
func TestReview5RangeMissOfUncacheableFetchesWholeEachTime(t *testing.T) {
	body := strings.Repeat("x", 64<<10)
	var full atomic.Int64
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if r.Header.Get("Range") == "" {
			full.Add(1)
		}
		http.ServeContent(w, r, "", time.Time{}, strings.NewReader(body))
	})
	s := newGateway(t, o, nil, nil)
	const n = 10
	for i := 0; i < n; i++ {
		r := get(t, s, "GET", "/big", "Range", "bytes=0-0")
		if r.status != http.StatusPartialContent {
			t.Fatalf("range: %d", r.status)
		}
		waitFor(t, "background fetch "+strconv.Itoa(i), func() bool {
			rf := s.gw.refresher
			rf.mu.Lock()
			defer rf.mu.Unlock()
			return len(rf.inflight) == 0
		})
	}
	if got := full.Load(); got > 2 {
		t.Errorf("%d one-byte range requests of an uncacheable response made %d whole-body origin fetches of %d bytes", n, got, len(body))
	}
}
