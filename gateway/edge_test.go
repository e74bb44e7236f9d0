package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/moatproxy/moat/policy"
)

// A route tells the CDN in front its own lifetime and the entry's tags,
// while clients get the route's Cache-Control; on the miss and on hits.
func TestEdgeFieldsAndTags(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Surrogate-Key", "from-origin")
		fmt.Fprint(w, "p")
	})
	pols := []policy.Policy{{
		Pattern: "GET /products/{id}", Tags: []string{"product:{id}", "products"},
		Downstream:       "max-age=5",
		DownstreamFields: map[string]string{"CDN-Cache-Control": "max-age=600", "Surrogate-Control": "max-age=3600"},
		TagFields:        []string{"Cache-Tag", "Surrogate-Key"},
	}, {Pattern: "GET /plain/{id}", TTL: time.Minute}}
	s := newGateway(t, o, pols, nil)
	for i, want := range []string{"MISS", "HIT"} {
		r := s.do(t, "GET", "/products/7")
		if r.xcache() != want {
			t.Fatalf("request %d: %s", i, r.xcache())
		}
		for field, v := range map[string]string{
			"Cache-Control":     "max-age=5",
			"Cdn-Cache-Control": "max-age=600",
			"Surrogate-Control": "max-age=3600",
			"Cache-Tag":         "from-origin,product:7,products",
			"Surrogate-Key":     "from-origin product:7 products",
		} {
			if got := r.header.Get(field); got != v {
				t.Errorf("%s: %s %q, want %q", want, field, got, v)
			}
		}
	}
	// A route without edge settings sends no tags downstream.
	for range 2 {
		if r := s.do(t, "GET", "/plain/1"); r.header.Get("Surrogate-Key") != "" || r.header.Get("Cache-Tag") != "" {
			t.Errorf("tags sent for a route without tag fields: %v", r.header)
		}
	}
}
