package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestReview6A304DoesNotStoreWhatAFillNeverStores: a 304 that revalidates
// an entry updates its stored header (RFC 9111 §4.3.4), but only with what
// a 200 would have stored (storedHeader): a fill never stores Set-Cookie
// (a 200 with it is not stored at all), the tag fields (kept in
// Entry.Tags, and not sent downstream unless configured), X-Moat-Invalidate
// or the fields a qualified no-cache names. The revalidation
// copied all of them into the shared entry, so the cookie the origin set
// for the one client whose request revalidated was sent with every later
// hit, to every client: one user's session handed to all (DESIGN
// invariant 2).
func TestReview6A304DoesNotStoreWhatAFillNeverStores(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", `public, max-age=10, no-cache="X-User"`)
		w.Header().Set("ETag", `"e1"`)
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.Header().Set("Set-Cookie", "sid=revalidating-user-session; HttpOnly")
			w.Header().Set("Surrogate-Key", "secret-tag")
			w.Header().Set("X-Moat-Invalidate", "/other")
			w.Header().Set("X-User", "revalidating-user")
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "body")
	})
	s := newGateway(t, o, nil, nil)
	wantXCache(t, s.do(t, "GET", "/r"), "MISS")
	s.clock.Advance(20 * time.Second)
	if reval := s.do(t, "GET", "/r"); reval.header.Get("Set-Cookie") == "" { // revalidated with a 304
		t.Errorf("the client whose request revalidated did not get the origin's Set-Cookie")
	}
	hit := s.do(t, "GET", "/r")
	wantXCache(t, hit, "HIT")
	for _, k := range []string{"Set-Cookie", "Surrogate-Key", "X-Moat-Invalidate", "X-User"} {
		if v := hit.header.Get(k); v != "" {
			t.Errorf("a hit after the 304 sends %s: %q (from the revalidating request's answer)", k, v)
		}
	}
}
