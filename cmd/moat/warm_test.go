package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeWarmFromHotkeys: a gateway records its hot keys at shutdown; a
// restarted gateway with --warm refills them before /readyz says ready, so
// the first client requests for those keys are hits.
func TestServeWarmFromHotkeys(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	dir := t.TempDir()
	listen, adminAddr := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "moat.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: %s
admin: {listen: %s, token: warm-test-token}
origin: {url: %s}
hotkeys: {file: %s, top: 100, interval: 1h}
`, listen, adminAddr, origin.URL, filepath.Join(dir, "hot.jsonl"))), 0o644)

	start := func(args ...string) (*exec.Cmd, *bytes.Buffer) {
		var stderr bytes.Buffer
		cmd := exec.Command(moatBinary(t), append([]string{"serve", "--config", cfg}, args...)...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		waitListening(t, listen)
		return cmd, &stderr
	}
	get := func(path string) string {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Cache")
	}

	first, stderr := start()
	for range 3 {
		for i := range 5 {
			get(fmt.Sprintf("/item/%d", i))
		}
	}
	first.Process.Signal(syscall.SIGTERM)
	if err := first.Wait(); err != nil {
		t.Fatalf("first gateway exit: %v\n%s", err, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "hot.jsonl")); err != nil || !strings.Contains(string(b), "/item/3") {
		t.Fatalf("hot-key file after shutdown: %v\n%s", err, b)
	}

	_, stderr = start("--warm")
	waitReady(t, adminAddr, stderr)
	for i := range 5 {
		if got := get(fmt.Sprintf("/item/%d", i)); got != "HIT" {
			t.Errorf("/item/%d after a warm restart: X-Cache %q, want HIT", i, got)
		}
	}

	// moat warm from a URL list, against the running gateway.
	urls := filepath.Join(dir, "urls.txt")
	os.WriteFile(urls, []byte("# a comment\n/other/1\n/other/2\nhttp://example.com/other/3\n"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"warm", "--config", cfg, "--from", urls, "--rate", "100"}, &out, &errb); code != 0 {
		t.Fatalf("moat warm exit %d: %s %s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "3") {
		t.Errorf("warm summary %q", out.String())
	}
	if got := get("/other/3"); got != "HIT" {
		t.Errorf("/other/3 after moat warm: %q, want HIT", got)
	}
}

// waitReady polls an admin listener's /readyz until it answers 200; the
// server's stderr is shown if it never does.
func waitReady(t *testing.T, adminAddr string, stderr fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never ready\n%s", adminAddr, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
