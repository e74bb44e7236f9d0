package edgetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
	"github.com/moatproxy/moat/internal/syncbuf"
)

// xkeyVMOD is where Debian's varnish-modules puts xkey.
func xkeyVMOD() string {
	if m, _ := filepath.Glob("/usr/lib/*/varnish/vmods/libvmod_xkey.so"); len(m) > 0 {
		return m[0]
	}
	return "/usr/lib/x86_64-linux-gnu/varnish/vmods/libvmod_xkey.so"
}

// need fails in CI (CI=true) and skips elsewhere when a component is
// missing.
func need(t *testing.T, what, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s is not installed (%s): make test installs it (scripts/deps.sh: apt-get install varnish varnish-modules)", what, path)
	}
	t.Skipf("%s is not installed (%s)", what, path)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startVarnish runs varnishd in the foreground with moat.vcl pointed at
// backend, until the test ends.
func startVarnish(t *testing.T, backend string) string {
	t.Helper()
	varnishd, err := exec.LookPath("varnishd")
	if err != nil {
		varnishd = "/usr/sbin/varnishd"
	}
	need(t, "varnishd", varnishd)
	need(t, "varnish-modules (xkey)", xkeyVMOD())
	vcl, err := os.ReadFile("../deploy/varnish/moat.vcl")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(backend)
	vcl = bytes.Replace(vcl, []byte(`.host = "127.0.0.1";
    .port = "8080";`), []byte(fmt.Sprintf(`.host = "%s";
    .port = "%s";`, host, port)), 1)
	// varnishd reads the VCL after dropping its privileges: a directory
	// every user can traverse (t.TempDir's parent is 0700).
	dir, err := os.MkdirTemp("", "moat-varnish-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	vclPath := filepath.Join(dir, "moat.vcl")
	if err := os.WriteFile(vclPath, vcl, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var log syncBuffer
	cmd := exec.Command(varnishd, "-F", "-n", filepath.Join(dir, "work"), "-a", addr, "-T", "none",
		"-f", vclPath, "-s", "malloc,32m", "-p", "thread_pools=1", "-p", "thread_pool_min=10")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("varnishd exited:\n%s", log.String())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("varnishd did not listen on %s:\n%s", addr, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVarnishPurgedThroughMoat: clients → Varnish → moat → origin. A purge
// through moat's admin API, by tag, URL, prefix or all, and a write through
// moat, evict the object from Varnish as well as from moat.
func TestVarnishPurgedThroughMoat(t *testing.T) {
	var version atomic.Int64
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		fmt.Fprintf(w, "%s v%d", r.URL.Path, version.Load())
	}))
	defer origin.Close()

	moatAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	varnishURL := startVarnish(t, moatAddr)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`listen: %s
admin: {listen: 127.0.0.1:0, token: token-123456789}
origin: {url: %s}
purge_targets:
  - type: varnish
    url: %s
routes:
  - match: GET /products/{id}
    tags: ["product:{id}", products]
    edge: {tag_headers: [xkey]}
  - match: PUT /products/{id}
    invalidate: ["product:{id}"]
  - match: GET /static/{path...}
`, moatAddr, origin.URL, varnishURL)), "edge.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, adminAddr, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	// get asks Varnish; hit reports whether Varnish answered from its cache
	// (X-Varnish holds the request's id and the object's).
	get := func(method, path string) (body string, hit bool) {
		t.Helper()
		req, _ := http.NewRequest(method, varnishURL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return string(b), len(strings.Fields(resp.Header.Get("X-Varnish"))) == 2
	}
	purge := func(body string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+adminAddr+"/purge", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer token-123456789")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("purge %s: %d %s", body, resp.StatusCode, b)
		}
	}
	cached := func(path string) {
		t.Helper()
		get("GET", path)
		if _, hit := get("GET", path); !hit {
			t.Fatalf("%s is not cached by Varnish", path)
		}
	}
	// evicted waits until Varnish no longer holds path (the fan-out is
	// asynchronous) and returns the body it then gets.
	evicted := func(what, path string) string {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			body, hit := get("GET", path)
			if !hit {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Varnish still serves %s from its cache", what, path)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	cached("/products/1")
	cached("/products/2")
	version.Store(1)
	purge(`{"tags": ["product:1"]}`)
	if body := evicted("tag purge", "/products/1"); body != "/products/1 v1" {
		t.Errorf("after the tag purge: %q, want v1 from the origin through moat", body)
	}
	if _, hit := get("GET", "/products/2"); !hit {
		t.Error("a purge of product:1 evicted product 2 from Varnish")
	}

	// A write through Varnish and moat: moat's route rule purges the tag.
	cached("/products/1")
	version.Store(2)
	get("PUT", "/products/1")
	if body := evicted("write", "/products/1"); body != "/products/1 v2" {
		t.Errorf("after the write: %q, want v2", body)
	}

	// By URL, by prefix, everything.
	cached("/static/a.css")
	purge(fmt.Sprintf(`{"urls": ["%s/static/a.css"]}`, varnishURL))
	evicted("URL purge", "/static/a.css")
	cached("/static/b.css")
	cached("/products/3")
	purge(`{"prefixes": ["/static/"]}`)
	evicted("prefix purge", "/static/b.css")
	if _, hit := get("GET", "/products/3"); !hit {
		t.Error("a purge of /static/ evicted /products/3")
	}
	purge(`{"all": true}`)
	evicted("purge of everything", "/products/3")
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads at once.
type syncBuffer = syncbuf.Buffer
