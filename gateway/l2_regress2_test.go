package gateway

import (
	"context"
	"fmt"
	"github.com/moatproxy/moat/cache"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func (n *node) doLang(t *testing.T, path, lang string) result {
	t.Helper()
	req, _ := http.NewRequest("GET", n.front.URL+path, nil)
	req.Host = "api.example"
	req.Header.Set("Accept-Language", lang)
	resp, err := n.front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

func TestL2ReviewMarkerResurrection(t *testing.T) {
	var v atomic.Int64
	block := make(chan struct{})
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Language") == "de" {
			<-block
		}
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s v%d", r.Header.Get("Accept-Language"), v.Add(1))
	})
	fl := newFleet(t, o, nil, nil)
	a, b := fl.start(), fl.start()
	fl.clock.Advance(time.Second)
	r0 := a.doLang(t, "/v", "fr")
	a.written(t, 2) // marker + fr
	fl.clock.Advance(time.Second)
	done := make(chan result)
	go func() { done <- a.doLang(t, "/v", "de") }()
	waitFor(t, "de in flight", func() bool { return o.count("GET /v") == 2 })
	fl.clock.Advance(time.Second)
	if _, err := b.gw.Purge(context.Background(), Purge{URLs: []string{"http://api.example/v"}}); err != nil {
		t.Fatal(err)
	}
	close(block)
	<-done
	fl.clock.Advance(time.Second)
	m, _ := a.gw.tier.Get(context.Background(), "GET http://api.example/v")
	t.Logf("A's L1 marker after purge: %v", m != nil)
	r1 := a.doLang(t, "/v", "fr")
	t.Logf("before: %q after: %q %s", r0.body, r1.body, r1.header.Get("Cache-Status"))
	if r1.body == r0.body {
		t.Errorf("A served purged fr variant from L1")
	}
	// evict fr from A's L1: promoted from L2?
	if m != nil {
		vk := ""
		if rg, ok := a.gw.tier.(ranger); ok {
			rg.Range(func(k string, e *cache.Entry) bool {
				if !e.VaryMarker && e.Key != "GET http://api.example/v" {
					if string(e.Body) == r0.body {
						vk = k
					}
				}
				return true
			})
		}
		a.gw.tier.Delete(context.Background(), vk)
		r2 := a.doLang(t, "/v", "fr")
		st, _ := a.gw.L2Stats()
		t.Logf("after L1 eviction: %q %s L2 hits %d", r2.body, r2.header.Get("Cache-Status"), st.Hits)
		if r2.body == r0.body {
			t.Errorf("A promoted the purged fr variant from L2")
		}
	}
}
