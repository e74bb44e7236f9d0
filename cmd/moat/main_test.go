package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/syncbuf"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// moatBinary builds the real binary once per test run.
func moatBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "moat-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "moat")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listening on %s", addr)
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("origin: {url: http://127.0.0.1:9000}\nroutes:\n  - match: GET /a/{id}\n    ttl: 5m\n"), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("origin: {url: http://127.0.0.1:9000}\nroutes:\n  - match: GET /a/{id}\n    ttl: 5x\n"), 0o644)
	noOrigin := filepath.Join(dir, "no-origin.yaml")
	os.WriteFile(noOrigin, []byte("listen: 127.0.0.1:8080\n"), 0o644)
	tests := []struct {
		name, path string
		code       int
		want       string
	}{
		{"valid", good, 0, "ok (1 routes)"},
		{"bad_duration_names_file_line_key", bad, 1, "bad.yaml:4: routes[0].ttl"},
		{"serve_needs_origin", noOrigin, 1, "origin.url"},
		{"missing_file", filepath.Join(dir, "nope.yaml"), 1, "nope.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run([]string{"validate", "--config", tt.path}, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if got := out.String() + errb.String(); !strings.Contains(got, tt.want) {
				t.Errorf("output %q does not contain %q", got, tt.want)
			}
		})
	}
	if code := run([]string{"examine"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("unknown command exit %d, want 2", code)
	}
	var out bytes.Buffer
	if run([]string{"version"}, &out, io.Discard) != 0 || !strings.HasPrefix(out.String(), "moat ") {
		t.Errorf("version output %q", out.String())
	}
}

// TestServeEndToEnd runs the real binary against a real origin: MISS then
// HIT, admin authentication, and a SIGTERM that drains an in-flight request
// and exits 0.
func TestServeEndToEnd(t *testing.T) {
	var hits atomic.Int64
	// /slow tells the test it has arrived, then answers only once the test
	// has seen the shutdown begin: the request is in flight for certain
	// when SIGTERM arrives.
	slowArrived := make(chan struct{}, 1)
	slowRelease := make(chan struct{})
	var releaseOnce sync.Once
	releaseSlow := func() { releaseOnce.Do(func() { close(slowRelease) }) }
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/slow" {
			select {
			case slowArrived <- struct{}{}:
			default: // a retry: the test has heard of the first arrival
			}
			<-slowRelease
		}
		w.Header().Set("Cache-Control", "public, max-age=60")
		fmt.Fprint(w, "body of "+r.URL.Path)
	}))
	defer origin.Close()
	defer releaseSlow() // before origin.Close, which waits for the handler
	bin := moatBinary(t)
	listen, adminAddr := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "moat.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`listen: %s
admin: {listen: %s, token: test-token-123}
origin: {url: %s, timeout: 5s}
cache: {memory: 16MiB, max_object_size: 1MiB}
routes:
  - match: GET /api/cart
    cache: false
`, listen, adminAddr, origin.URL)), 0o644)
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitListening(t, listen)
	waitListening(t, adminAddr)

	get := func(url string, hdr ...string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	r1, _ := get("http://" + listen + "/api/products/1")
	r2, body := get("http://" + listen + "/api/products/1")
	if r1.Header.Get("X-Cache") != "MISS" || r2.Header.Get("X-Cache") != "HIT" || body != "body of /api/products/1" {
		t.Fatalf("X-Cache %q then %q, body %q", r1.Header.Get("X-Cache"), r2.Header.Get("X-Cache"), body)
	}
	if hits.Load() != 1 {
		t.Errorf("origin requests = %d, want 1", hits.Load())
	}
	if r, _ := get("http://" + adminAddr + "/api/stats"); r.StatusCode != 401 {
		t.Errorf("admin without token: %d, want 401", r.StatusCode)
	}
	if r, b := get("http://"+adminAddr+"/api/stats", "Authorization", "Bearer test-token-123"); r.StatusCode != 200 || !strings.Contains(b, `"hits": 1`) {
		t.Errorf("admin stats: %d %s", r.StatusCode, b)
	}

	// moat purge through the admin API: the entry is gone afterwards.
	var pout, perr bytes.Buffer
	if code := run([]string{"purge", "--admin", "http://" + adminAddr, "--token", "test-token-123", "--url", "http://" + listen + "/api/products/1"}, &pout, &perr); code != 0 {
		t.Fatalf("moat purge exit %d: %s", code, perr.String())
	}
	if !strings.Contains(pout.String(), "purged: 1 entries removed") {
		t.Errorf("moat purge output %q", pout.String())
	}
	if r, _ := get("http://" + listen + "/api/products/1"); r.Header.Get("X-Cache") != "MISS" {
		t.Errorf("after purge: X-Cache %q, want MISS", r.Header.Get("X-Cache"))
	}
	if code := run([]string{"purge", "--admin", "http://" + adminAddr, "--token", "wrong", "--tag", "x"}, io.Discard, &perr); code != 1 || !strings.Contains(perr.String(), "401") {
		t.Errorf("purge with a wrong token: exit %d, stderr %q", code, perr.String())
	}

	// Graceful shutdown: a request in flight when SIGTERM arrives completes.
	done := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + listen + "/slow")
		if err != nil {
			done <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	select {
	case <-slowArrived:
	case got := <-done:
		t.Fatalf("the slow request ended before reaching the origin: %q", got)
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the origin")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The shutdown has begun once the proxy listener refuses connections;
	// only then may the origin answer, so the request drains rather than
	// racing the signal.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting connections 10s after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	releaseSlow()
	if got := <-done; got != "body of /slow" {
		t.Errorf("in-flight request during shutdown got %q", got)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("moat serve exit: %v\nstderr:\n%s", err, stderr.String())
	}
	if _, err := net.DialTimeout("tcp", listen, 200*time.Millisecond); err == nil {
		t.Error("still listening after shutdown")
	}
}

// TestServeTLSAndHTTP2 serves HTTPS from cert/key files and negotiates h2.
func TestServeTLSAndHTTP2(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprint(w, "secure")
	}))
	defer origin.Close()
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	listen := freePort(t)
	cfg := filepath.Join(dir, "moat.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen: %s\ntls: {cert_file: %s, key_file: %s}\norigin: {url: %s}\n", listen, certFile, keyFile, origin.URL)), 0o644)
	cmd := exec.Command(moatBinary(t), "serve", "--config", cfg)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitListening(t, listen)
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // self-signed test certificate
		ForceAttemptHTTP2: true,
	}}
	for i, want := range []string{"MISS", "HIT"} {
		resp, err := client.Get("https://" + listen + "/x")
		if err != nil {
			t.Fatalf("request %d: %v\n%s", i, err, stderr.String())
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || string(b) != "secure" || resp.Header.Get("X-Cache") != want {
			t.Errorf("request %d: proto %s body %q X-Cache %q, want HTTP/2 %q", i, resp.Proto, b, resp.Header.Get("X-Cache"), want)
		}
	}
}

func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

// TestDemoLoad runs `moat demo --load` for a moment and checks the table.
func TestDemoLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, moatBinary(t), "demo", "--load", "700ms", "--concurrency", "8",
		"--latency-min", "2ms", "--latency-max", "4ms").CombinedOutput()
	if err != nil {
		t.Fatalf("demo --load: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"origin direct", "through moat", "requests/s", "p99", "hit ratio"} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q:\n%s", want, s)
		}
	}
}

// TestShutdownDelay: on SIGTERM, /readyz turns 503 at once while the
// proxy keeps serving for shutdown_delay; then moat drains, says
// "stopped" and exits 0.
func TestShutdownDelay(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer origin.Close()
	listen, adminAddr := freePort(t), freePort(t)
	cfg := filepath.Join(t.TempDir(), "moat.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen: %s\nadmin: {listen: %s, token: test-token-123}\norigin: {url: %s}\nshutdown_delay: 30s\n", listen, adminAddr, origin.URL)), 0o644)
	cmd := exec.Command(moatBinary(t), "serve", "--config", cfg)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitListening(t, listen)
	waitListening(t, adminAddr)
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("http://" + adminAddr + "/readyz"); got != 200 {
		t.Fatalf("readyz before: %d", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for status("http://"+adminAddr+"/readyz") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("readyz never turned 503 after SIGTERM:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := status("http://" + listen + "/x"); got != 200 {
		t.Fatalf("the proxy during the shutdown delay answered %d, want 200 (still serving)", got)
	}
	cmd.Process.Signal(syscall.SIGTERM) // a second signal ends the delay
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no final stopped line:\n%s", stderr.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a process's writes and a test's
// reads at once.
type syncBuffer = syncbuf.Buffer

// TestAccessLogFileRotation: the access log goes to its own file, in JSON
// with durations in milliseconds; after logrotate renames it, SIGUSR1
// makes moat write to a new file of that name.
func TestAccessLogFileRotation(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	defer origin.Close()
	dir := t.TempDir()
	listen := freePort(t)
	logPath := filepath.Join(dir, "access.log")
	cfg := filepath.Join(dir, "moat.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen: %s\norigin: {url: %s}\nlog: {access_file: access.log, access_format: json}\n", listen, origin.URL)), 0o644)
	cmd := exec.Command(moatBinary(t), "serve", "--config", cfg)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitListening(t, listen)
	get := func(path string) {
		req, _ := http.NewRequest("GET", "http://"+listen+path, nil)
		req.Header.Set("User-Agent", "rotation-test")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	waitFile := func(path, want string) string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), want) {
				return string(b)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never held %q:\n%s\nstderr:\n%s", path, want, b, stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	get("/before")
	line := waitFile(logPath, `"/before"`)
	for _, want := range []string{`"route":"(no route)"`, `"user_agent":"rotation-test"`, `"dur_ms":`, `"host":"` + listen + `"`} {
		if !strings.Contains(line, want) {
			t.Errorf("access line lacks %s:\n%s", want, line)
		}
	}
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGUSR1)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "log files reopened") {
		if time.Now().After(deadline) {
			t.Fatalf("no reopen after SIGUSR1:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	get("/after")
	waitFile(logPath, `"/after"`)
	if b, _ := os.ReadFile(logPath + ".1"); strings.Contains(string(b), "/after") {
		t.Errorf("the rotated file got the line written after SIGUSR1")
	}
}
