package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Moat-Cache-Control is aimed at moat alone and "stops at moat", but a
// 304 that revalidates an entry copies it into the stored header, and
// every later hit sends it to clients (and the CDN in front).
func TestReview5MoatCacheControlFromA304ReachesClients(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Moat-Cache-Control", "max-age=10")
		w.Header().Set("ETag", `"e1"`)
		if r.Header.Get("If-None-Match") == `"e1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "body")
	})
	s := newGateway(t, o, nil, nil)
	s.do(t, "GET", "/m")
	s.clock.Advance(20 * time.Second)
	reval := s.do(t, "GET", "/m") // revalidated with a 304
	if reval.header.Get("Moat-Cache-Control") != "" {
		t.Errorf("Moat-Cache-Control in the answer to a revalidation")
	}
	hit := s.do(t, "GET", "/m")
	if hit.xcache() != "HIT" {
		t.Fatalf("after the revalidation: %s", hit.xcache())
	}
	if v := hit.header.Get("Moat-Cache-Control"); v != "" {
		t.Errorf("Moat-Cache-Control %q in a hit after a 304 revalidation; it must stop at moat", v)
	}
}
