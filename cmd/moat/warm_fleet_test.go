package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/redistest"
	"github.com/moatproxy/moat/redisl2"
)

// TestServeWarmFromFleet: a node started with --warm fills its memory from
// the fleet's hot set in Redis (L2 only: the origin is not asked again)
// before /readyz says ready. Redis is then frozen: the node still answers
// those keys as hits, from memory.
func TestServeWarmFromFleet(t *testing.T) {
	rs := redistest.Standalone(t)
	var hits atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	dir := t.TempDir()
	config := func(name string) (file, listen, admin string) {
		listen, admin = freePort(t), freePort(t)
		file = filepath.Join(dir, name+".yaml")
		os.WriteFile(file, []byte(fmt.Sprintf(`listen: %s
admin: {listen: %s, token: warm-fleet-test-token}
origin: {url: %s}
hotkeys: {top: 100, interval: 100ms}
cache:
  redis: {addrs: ["%s"], timeout: 50ms, key_prefix: "warmtest:"}
`, listen, admin, origin.URL, rs.Addr)), 0o644)
		return file, listen, admin
	}
	start := func(file, listen string, args ...string) *bytes.Buffer {
		var stderr bytes.Buffer
		cmd := exec.Command(moatBinary(t), append([]string{"serve", "--config", file}, args...)...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitListening(t, listen)
		return &stderr
	}
	get := func(listen, path string) string {
		c := http.Client{Timeout: 5 * time.Second}
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		req.Host = "api.example" // one name for every node, as behind a load balancer
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Cache")
	}

	fileA, listenA, _ := config("a")
	start(fileA, listenA)
	for range 3 {
		for i := range 5 {
			get(listenA, fmt.Sprintf("/item/%d", i))
		}
	}
	rc, err := redisl2.New(redisl2.Options{Addrs: []string{rs.Addr}, KeyPrefix: "warmtest:"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		hot, _ := rc.Hot(context.Background(), 10)
		if len(hot) == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fleet's hot set never held the 5 URLs: %v", hot)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := hits.Load(); n != 5 {
		t.Fatalf("origin asked %d times for 5 URLs", n)
	}

	fileB, listenB, adminB := config("b")
	stderr := start(fileB, listenB, "--warm")
	waitReady(t, adminB, stderr)
	if n := hits.Load(); n != 5 {
		t.Errorf("warming B from the fleet asked the origin %d more times, want 0", n-5)
	}
	rs.Freeze() // no L2 from here: B answers from what it holds
	defer rs.Thaw()
	for i := range 5 {
		if got := get(listenB, fmt.Sprintf("/item/%d", i)); got != "HIT" {
			t.Errorf("/item/%d on B after a warm start from the fleet, Redis frozen: X-Cache %q, want HIT\n%s", i, got, stderr)
		}
	}
	if n := hits.Load(); n != 5 {
		t.Errorf("origin asked %d times in all, want 5", n)
	}
}
