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
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadProcess: a real moat serve process reloads its config on
// SIGHUP and on `moat reload` without dropping the request in flight or
// the entries of unchanged routes; a config with errors is refused with
// file:line:key and the running one goes on; reloads are counted.
func TestReloadProcess(t *testing.T) {
	inSlow := make(chan struct{}, 1)
	release := make(chan struct{})
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			inSlow <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	listen, adminAddr := freePort(t), freePort(t)
	path := filepath.Join(t.TempDir(), "moat.yaml")
	write := func(token, changeTTL, extra string) {
		t.Helper()
		cfg := fmt.Sprintf(`listen: %s
admin: {listen: %s, token: %s}
origin: {url: %s, timeout: 30s}
routes:
  - match: GET /keep/{id}
    ttl: 60s
    override_origin: true
  - match: GET /change/{id}
    ttl: %s
    override_origin: true
%s`, listen, adminAddr, token, origin.URL, changeTTL, extra)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("token-one-123456", "60s", "")
	cmd := exec.Command(moatBinary(t), "serve", "--config", path)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitListening(t, listen)
	waitListening(t, adminAddr)

	xcache := func(p string) string {
		t.Helper()
		resp, err := http.Get("http://" + listen + p)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.Header.Get("X-Cache")
	}
	adminStatus := func(token, p string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+adminAddr+p, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	waitLog := func(want string, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(stderr.String(), want) < n {
			if time.Now().After(deadline) {
				t.Fatalf("log never said %q %d times:\n%s", want, n, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for _, p := range []string{"/keep/1", "/change/1"} {
		xcache(p)
		if x := xcache(p); x != "HIT" {
			t.Fatalf("%s before the reload: %s", p, x)
		}
	}

	// A request in flight across the reload.
	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + listen + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- fmt.Sprintf("%d %s", resp.StatusCode, b)
	}()
	<-inSlow

	write("token-two-123456", "5s", "  - match: GET /new/{id}\n    ttl: 60s\n")
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("config reloaded", 1)
	close(release)
	if got := <-slow; got != "200 body of /slow" {
		t.Errorf("request in flight across the reload: %q", got)
	}
	if x := xcache("/keep/1"); x != "HIT" {
		t.Errorf("unchanged route after SIGHUP: %s, want HIT (the cache was kept)", x)
	}
	if x := xcache("/change/1"); x != "MISS" {
		t.Errorf("route whose ttl changed: %s, want MISS", x)
	}
	xcache("/new/1")
	if x := xcache("/new/1"); x != "HIT" {
		t.Errorf("new route: %s, want HIT", x)
	}
	if code, _ := adminStatus("token-one-123456", "/api/stats"); code != http.StatusUnauthorized {
		t.Errorf("old admin token after the reload: %d, want 401", code)
	}
	if code, body := adminStatus("token-two-123456", "/api/routes"); code != 200 || !strings.Contains(body, "GET /new/{id}") {
		t.Errorf("admin routes after the reload: %d %s", code, body)
	}

	// A config with errors: refused, named, and the running one goes on.
	write("token-two-123456", "5s", "  - match: GET /bad/{id}\n    tll: 60s\n")
	admin := []string{"--admin", "http://" + adminAddr, "--token", "token-two-123456"}
	var out, errs bytes.Buffer
	if code := run(append([]string{"reload"}, admin...), &out, &errs); code != 1 {
		t.Fatalf("moat reload of a bad config: exit %d, stdout %q stderr %q", code, out.String(), errs.String())
	}
	if !regexp.MustCompile(`moat\.yaml:1[0-9]+: routes\[2\]\.tll`).MatchString(errs.String()) {
		t.Errorf("moat reload does not name file:line:key:\n%s", errs.String())
	}
	cmd.Process.Signal(syscall.SIGHUP)
	waitLog("config reload refused", 2)
	if x := xcache("/keep/1"); x != "HIT" {
		t.Errorf("after refused reloads: %s, want HIT", x)
	}
	if code, _ := adminStatus("token-two-123456", "/api/stats"); code != 200 {
		t.Errorf("the running config's token after refused reloads: %d", code)
	}

	// moat reload applies a good config and says what needs a restart.
	write("token-two-123456", "5s", "")
	if err := os.WriteFile(path, bytes.Replace(must(os.ReadFile(path)), []byte("origin:"), []byte("cache: {memory: 32MiB}\norigin:"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errs.Reset()
	if code := run(append([]string{"reload"}, admin...), &out, &errs); code != 0 {
		t.Fatalf("moat reload: exit %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), "reloaded: 2 routes") || !strings.Contains(out.String(), "restart: cache.memory") {
		t.Errorf("moat reload output: %q", out.String())
	}
	_, metrics := adminStatus("token-two-123456", "/metrics")
	for _, want := range []string{`moat_config_reloads_total{result="ok"} 2`, `moat_config_reloads_total{result="error"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if x := xcache("/keep/1"); x != "HIT" {
		t.Errorf("after two reloads: %s, want HIT", x)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
