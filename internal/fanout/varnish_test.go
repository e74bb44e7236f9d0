package fanout

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestVarnishAdapter(t *testing.T) {
	noLeaks(t)
	varnish := newContract(t, func(w http.ResponseWriter, c captured, _ int) {
		if len(c.Body) != 0 {
			t.Errorf("varnish: %s %s has a body", c.Method, c.URI)
		}
		for _, h := range []string{"Xkey-Purge", "Xkey-Softpurge"} {
			if v := c.Header.Get(h); len(v) >= 4096 {
				t.Errorf("varnish: %s of %d bytes, want under 4 KiB", h, len(v))
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	host := strings.TrimPrefix(varnish.URL, "http://")
	tags := words("product:", 1000) // 12 bytes + a space each: 13,000 bytes in all
	f, _, _ := deliverAll(t, Target{Type: TypeVarnish, URL: varnish.URL + "/"},
		Purge{Tags: tags},
		Purge{Tags: []string{"a", "b"}, URLs: []string{"https://shop.example.com/api/p?x=1", "https://shop.example.com"}, Soft: true},
		Purge{Prefixes: []string{"/api/v1.0/"}, Routes: []string{"GET /a"}},
		Purge{All: true, Tags: []string{"ignored"}},
	)

	type req struct{ method, uri, host, header string }
	var got []req
	var hard []string
	for _, c := range varnish.requests() {
		r := req{c.Method, c.URI, c.Host, ""}
		for _, h := range []string{"Xkey-Purge", "Xkey-Softpurge", "X-Moat-Ban-Path", "X-Moat-Ban-All"} {
			if v := c.Header.Get(h); v != "" {
				r.header = h + ": " + v
				if h == "Xkey-Purge" && len(v) > 100 {
					hard = append(hard, strings.Fields(v)...)
					r.header = h + ": (batch)"
				}
			}
		}
		got = append(got, r)
	}
	if !slices.Equal(hard, tags) {
		t.Errorf("the 1000 tags were not all sent, in order, as xkey-purge")
	}
	batches := 0
	for _, r := range got {
		if r.header == "Xkey-Purge: (batch)" {
			batches++
		}
	}
	if batches != 4 { // 13,000 bytes in values under 4 KiB
		t.Errorf("1000 tags in %d requests, want 4", batches)
	}
	want := []req{
		{"PURGE", "/", host, "Xkey-Softpurge: a b"},
		{"PURGE", "/api/p?x=1", "shop.example.com", ""},
		{"PURGE", "/", "shop.example.com", ""},
		{"BAN", "/", host, `X-Moat-Ban-Path: ^/api/v1\.0/`},
		{"BAN", "/", host, "X-Moat-Ban-All: 1"},
	}
	if len(got) != batches+len(want) || !slices.Equal(got[batches:], want) {
		t.Errorf("requests after the tag batches:\n got %+v\nwant %+v", got[min(batches, len(got)):], want)
	}
	wantStats(t, f, int64(batches+len(want)), 0, 0, 1)
}
