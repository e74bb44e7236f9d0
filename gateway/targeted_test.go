package gateway

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// RFC 9213: the targeted field decides moat's caching over Cache-Control
// and Expires; Moat-Cache-Control stops at moat, CDN-Cache-Control and
// Cache-Control go on.
func TestTargetedCacheControl(t *testing.T) {
	tests := []struct {
		name    string
		hdr     map[string]string
		opts    func(*Options)
		hitAt   time.Duration // a request this long after the fill is a hit
		missAt  time.Duration // and this long after, a miss (0: not checked)
		nothing bool          // not stored at all
	}{
		{name: "cdn_over_cache_control", hdr: map[string]string{"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"}, hitAt: 500 * time.Second, missAt: 700 * time.Second},
		{name: "cdn_over_expires", hdr: map[string]string{"Expires": "0", "CDN-Cache-Control": "max-age=60"}, hitAt: 30 * time.Second, missAt: 90 * time.Second},
		{name: "moat_over_cdn", hdr: map[string]string{"CDN-Cache-Control": "max-age=600", "Moat-Cache-Control": "max-age=10"}, hitAt: 5 * time.Second, missAt: 20 * time.Second},
		{name: "targeted_no_store", hdr: map[string]string{"Cache-Control": "max-age=600", "CDN-Cache-Control": "no-store"}, nothing: true},
		{name: "invalid_targeted_ignored", hdr: map[string]string{"Cache-Control": "max-age=60", "CDN-Cache-Control": "max-age=1.5"}, hitAt: 30 * time.Second, missAt: 90 * time.Second},
		{name: "turned_off", hdr: map[string]string{"Cache-Control": "no-store", "CDN-Cache-Control": "max-age=600"}, opts: func(o *Options) { o.TargetedCacheControl = []string{} }, nothing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.hdr {
					w.Header().Set(k, v)
				}
				fmt.Fprint(w, "body")
			})
			s := newGateway(t, o, nil, tt.opts)
			first := s.do(t, "GET", "/t")
			if first.header.Get("Moat-Cache-Control") != "" {
				t.Errorf("Moat-Cache-Control reached the client")
			}
			if v := tt.hdr["CDN-Cache-Control"]; v != "" && first.header.Get("CDN-Cache-Control") != v {
				t.Errorf("CDN-Cache-Control to the client %q, want %q (for the CDN in front)", first.header.Get("CDN-Cache-Control"), v)
			}
			if v := tt.hdr["Cache-Control"]; v != "" && first.header.Get("Cache-Control") != v {
				t.Errorf("Cache-Control to the client %q, want the origin's %q", first.header.Get("Cache-Control"), v)
			}
			if tt.nothing {
				if r := s.do(t, "GET", "/t"); r.xcache() == "HIT" {
					t.Errorf("stored: %s", r.header.Get("Cache-Status"))
				}
				return
			}
			s.clock.Advance(tt.hitAt)
			hit := s.do(t, "GET", "/t")
			if hit.xcache() != "HIT" {
				t.Fatalf("after %s: %s (%s), want HIT", tt.hitAt, hit.xcache(), hit.header.Get("Cache-Status"))
			}
			if hit.header.Get("Moat-Cache-Control") != "" {
				t.Errorf("Moat-Cache-Control in a hit")
			}
			s.clock.Advance(tt.missAt - tt.hitAt)
			if r := s.do(t, "GET", "/t"); r.xcache() == "HIT" {
				t.Errorf("after %s: HIT, want the entry expired", tt.missAt)
			}
		})
	}
}
