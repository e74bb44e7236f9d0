package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/bench/internal/payload"
	"github.com/moatproxy/moat/internal/redistest"
)

func TestMissFillsRedisThenHitsComeFromIt(t *testing.T) {
	rs := redistest.Standalone(t)
	var originRequests atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		originRequests.Add(1)
		k, id, _ := payload.Split(r.URL.Path)
		w.Header().Set("Cache-Control", k.CacheControl)
		w.Header().Set("Etag", payload.ETag(k, id))
		_, _ = w.Write(payload.Body(k, id))
	}))
	defer origin.Close()
	rc, err := newRedis(rs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	srv := httptest.NewServer(newFront(rc, origin.URL, "test:", time.Minute, time.Second))
	defer srv.Close()

	k, id, _ := payload.Split("/api/1k/7")
	for i, wantCache := range []string{"MISS", "HIT", "HIT"} {
		resp, err := http.Get(srv.URL + "/api/1k/7")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("X-Cache"); got != wantCache {
			t.Errorf("request %d: X-Cache = %q, want %q", i, got, wantCache)
		}
		if string(body) != string(payload.Body(k, id)) {
			t.Errorf("request %d: body differs from the origin's", i)
		}
		if got, want := resp.Header.Get("Etag"), payload.ETag(k, id); got != want {
			t.Errorf("request %d: Etag = %q, want %q", i, got, want)
		}
	}
	if got := originRequests.Load(); got != 1 {
		t.Errorf("origin requests = %d, want 1", got)
	}
}
