package packaging

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testVersion is the version the tests build under; its Debian spelling is testDebVersion.
const (
	testVersion    = "v0.0.0-test"
	testDebVersion = "0.0.0~test"
)

// need returns the path of a command the test cannot do without. Without it the test fails
// under CI=true (a packaging test that CI skips proves nothing; make test installs dpkg, see
// scripts/deps.sh) and is skipped elsewhere.
func need(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s is not installed: it is needed to build and install the .deb (apt-get install dpkg)", name)
	}
	t.Skipf("%s is not installed (CI=true makes this a failure)", name)
	return ""
}

// repoRoot is the module's root, the directory above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// run runs a command and returns its stdout, failing the test with its stderr.
func run(t *testing.T, env []string, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// cleanEnv is the environment without what a parent make or go test would pass down to a
// child make (its jobserver) or to go build (-race in GOFLAGS).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "GOFLAGS", "DPKG_ROOT":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// makeRelease runs make targets of release.mk in dir with DIST=dist and VERSION=testVersion.
func makeRelease(t *testing.T, dir, dist string, args ...string) {
	t.Helper()
	need(t, "make")
	run(t, nil, dir, "make", append([]string{"--no-print-directory", "DIST=" + dist, "VERSION=" + testVersion}, args...)...)
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeb builds the .deb for this machine's architecture with make deb, reads it back with
// dpkg-deb, installs it with dpkg into a throwaway root (maintainer scripts included, with
// DPKG_ROOT set, so the machine itself is not touched), runs what it installed, and purges it.
func TestDeb(t *testing.T) {
	need(t, "dpkg-deb")
	need(t, "dpkg")
	dist := t.TempDir()
	const epoch = "SOURCE_DATE_EPOCH=1767225600"
	makeRelease(t, repoRoot(t), dist, "deb", "DEB_ARCH="+runtime.GOARCH, epoch)
	deb := filepath.Join(dist, "moat_"+testDebVersion+"_"+runtime.GOARCH+".deb")

	t.Run("reproducible", func(t *testing.T) {
		again := t.TempDir()
		binary := filepath.Join(dist, "moat_"+testVersion+"_linux_"+runtime.GOARCH)
		got := strings.TrimSpace(run(t, []string{epoch}, "", "./build-deb.sh", testVersion, runtime.GOARCH, binary, again))
		if a, b := sha256File(t, deb), sha256File(t, got); a != b {
			t.Errorf("two builds of the .deb from one binary differ: sha256 %s and %s", a, b)
		}
	})

	t.Run("control", func(t *testing.T) {
		for field, want := range map[string]string{
			"Package":      "moat",
			"Version":      testDebVersion,
			"Architecture": runtime.GOARCH,
			"Depends":      "adduser",
		} {
			if got := strings.TrimSpace(run(t, nil, "", "dpkg-deb", "--field", deb, field)); got != want {
				t.Errorf("%s: got %q, want %q", field, got, want)
			}
		}
		if got := strings.TrimSpace(run(t, nil, "", "dpkg-deb", "--info", deb, "conffiles")); got != "/etc/moat/moat.yaml\n/etc/logrotate.d/moat" {
			t.Errorf("conffiles: got %q, want /etc/moat/moat.yaml and /etc/logrotate.d/moat", got)
		}
		for _, script := range []string{"postinst", "prerm", "postrm"} {
			run(t, nil, "", "dpkg-deb", "--info", deb, script)
		}
	})

	t.Run("contents", func(t *testing.T) {
		got := map[string]string{} // path -> "mode owner"
		sc := bufio.NewScanner(strings.NewReader(run(t, nil, "", "dpkg-deb", "--contents", deb)))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 6 {
				t.Fatalf("dpkg-deb --contents: unexpected line %q", sc.Text())
			}
			got[f[len(f)-1]] = f[0] + " " + f[1]
		}
		for path, want := range map[string]string{
			"./usr/bin/moat":                    "-rwxr-xr-x root/root",
			"./lib/systemd/system/moat.service": "-rw-r--r-- root/root",
			"./etc/moat/moat.yaml":              "-rw-r--r-- root/root",
			"./etc/logrotate.d/moat":            "-rw-r--r-- root/root",
			"./usr/share/doc/moat/copyright":    "-rw-r--r-- root/root",
		} {
			if got[path] != want {
				t.Errorf("%s: got %q, want %q", path, got[path], want)
			}
		}
		for path, mode := range got {
			if !strings.HasSuffix(mode, " root/root") {
				t.Errorf("%s: owner %q, want root/root", path, mode)
			}
		}
	})

	t.Run("install_and_purge", func(t *testing.T) {
		need(t, "useradd") // postinst creates the moat user in the other root with useradd --prefix
		root := fakeRoot(t)
		dpkg := func(args ...string) string {
			return run(t, nil, "", "dpkg", append([]string{"--root=" + root, "--log=/dev/null",
				"--force-script-chrootless", "--force-not-root", "--force-depends"}, args...)...)
		}
		dpkg("--install", deb)

		if !regexp.MustCompile(`(?m)^moat:x:[0-9]+:[0-9]+::/var/lib/moat:/usr/sbin/nologin$`).MatchString(readFile(t, filepath.Join(root, "etc/passwd"))) {
			t.Errorf("postinst did not create the moat user:\n%s", readFile(t, filepath.Join(root, "etc/passwd")))
		}
		envFile := filepath.Join(root, "etc/moat/moat.env")
		env := readFile(t, envFile)
		token := regexp.MustCompile(`(?m)^MOAT_ADMIN_TOKEN=([0-9a-f]{64})$`).FindStringSubmatch(env)
		if token == nil {
			t.Fatalf("moat.env holds no 32-byte hex MOAT_ADMIN_TOKEN:\n%s", env)
		}
		if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("moat.env: mode %v (%v), want 0640: it holds the admin token", fi.Mode(), err)
		}

		moat := filepath.Join(root, "usr/bin/moat")
		if got, _, _ := strings.Cut(run(t, nil, "", moat, "version"), "\n"); got != "moat "+testVersion {
			t.Errorf("moat version: got %q, want %q", got, "moat "+testVersion)
		}
		config := filepath.Join(root, "etc/moat/moat.yaml")
		run(t, []string{"MOAT_ADMIN_TOKEN=" + token[1]}, "", moat, "validate", "--strict", "--config", config)

		status := readFile(t, filepath.Join(root, "var/lib/dpkg/status"))
		for _, want := range []string{"Status: install ok installed", "Conffiles:\n /etc/moat/moat.yaml "} {
			if !strings.Contains(status, want) {
				t.Errorf("dpkg status lacks %q:\n%s", want, status)
			}
		}

		// A reinstall (an upgrade to the same version) keeps the token.
		dpkg("--install", deb)
		if got := readFile(t, envFile); got != env {
			t.Errorf("moat.env changed on upgrade:\n%s\nwant\n%s", got, env)
		}

		dpkg("--purge", "moat")
		for _, path := range []string{"usr/bin/moat", "lib/systemd/system/moat.service", "etc/moat/moat.yaml", "etc/moat/moat.env", "etc/logrotate.d/moat"} {
			if _, err := os.Lstat(filepath.Join(root, path)); !os.IsNotExist(err) {
				t.Errorf("%s is still there after purge (%v)", path, err)
			}
		}
	})
}

// fakeRoot returns an empty root directory with what dpkg --root and useradd --prefix need:
// a dpkg database and the account files with root alone.
func fakeRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, dir := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for path, content := range map[string]string{
		"var/lib/dpkg/status": "",
		"etc/passwd":          "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":           "root:x:0:\n",
		"etc/shadow":          "root:*:20000:0:99999:7:::\n",
		"etc/gshadow":         "root:*::\n",
	} {
		if err := os.WriteFile(filepath.Join(root, path), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestDebVersions checks how build-deb.sh spells semver versions for Debian, and that Debian
// orders them as semver does. The package wraps a stand-in binary: only its name matters here.
func TestDebVersions(t *testing.T) {
	need(t, "dpkg-deb")
	binary := filepath.Join(t.TempDir(), "moat")
	if err := os.WriteFile(binary, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repoRoot(t), "packaging", "build-deb.sh")
	for _, tc := range []struct{ version, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-rc.1", "1.2.3~rc.1"},
		{"v1.2.3-4-gabc1234", "1.2.3+4.gabc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+4.gabc1234.dirty"},
		{"v0.0.0-abc1234-dirty", "0.0.0~abc1234~dirty"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			out := t.TempDir()
			got := strings.TrimSpace(run(t, []string{"SOURCE_DATE_EPOCH=0"}, "", script, tc.version, "amd64", binary, out))
			if want := filepath.Join(out, "moat_"+tc.want+"_amd64.deb"); got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
			if v := strings.TrimSpace(run(t, nil, "", "dpkg-deb", "--field", got, "Version")); v != tc.want {
				t.Errorf("Version: got %q, want %q", v, tc.want)
			}
		})
	}
	t.Run("order", func(t *testing.T) {
		order := []string{"0.0.0~abc1234~dirty", "1.2.3~rc.1", "1.2.3", "1.2.3+4.gabc1234", "1.2.3+4.gabc1234.dirty"}
		for i := 1; i < len(order); i++ {
			run(t, nil, "", "dpkg", "--compare-versions", order[i-1], "lt", order[i])
		}
	})
	t.Run("not_semver", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), script, "main", "amd64", binary, t.TempDir())
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("build-deb.sh accepted VERSION main:\n%s", out)
		}
	})
}

// TestUnit checks the systemd unit: how it starts and reloads moat, and its hardening. With
// systemd-analyze on the machine, the unit must also pass systemd-analyze verify.
func TestUnit(t *testing.T) {
	unit := readFile(t, "deb/moat.service")
	directives := map[string]string{}
	for _, line := range strings.Split(unit, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			directives[k] = v
		}
	}
	for key, want := range map[string]string{
		"Type":                    "simple",
		"User":                    "moat",
		"ExecStart":               "/usr/bin/moat serve --config /etc/moat/moat.yaml",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"EnvironmentFile":         "-/etc/moat/moat.env",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"CapabilityBoundingSet":   "",
		"LimitNOFILE":             "65536",
		"StateDirectory":          "moat",
		"WantedBy":                "multi-user.target",
	} {
		got, ok := directives[key]
		if !ok || got != want {
			t.Errorf("%s: got %q (set: %v), want %q", key, got, ok, want)
		}
	}
	if _, ok := directives["RestartForceExitStatus"]; ok {
		t.Errorf("RestartForceExitStatus is set: SIGHUP reloads moat in place, it is not a death to restart from")
	}
	if _, ok := directives["AmbientCapabilities"]; ok {
		t.Errorf("AmbientCapabilities is set: moat needs no capability to listen on 8080")
	}

	t.Run("systemd_analyze_verify", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Skip("systemd-analyze is not installed")
		}
		// verify checks that ExecStart's binary exists: point it at a stand-in.
		dir := t.TempDir()
		binary := filepath.Join(dir, "moat")
		if err := os.WriteFile(binary, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "moat.service")
		if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/bin/moat", binary)), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), analyze, "verify", path)
		if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}

// TestDefaultConfigs validates the configs the .deb and the image install, as moat serve would.
func TestDefaultConfigs(t *testing.T) {
	moat := filepath.Join(t.TempDir(), "moat")
	run(t, nil, repoRoot(t), "go", "build", "-o", moat, "./cmd/moat")
	for _, config := range []string{"deb/moat.yaml", "docker/moat.yaml"} {
		t.Run(config, func(t *testing.T) {
			run(t, []string{"MOAT_ADMIN_TOKEN=" + strings.Repeat("0123456789abcdef", 4)}, "", moat, "validate", "--strict", "--config", config)
		})
	}
}

// TestReleaseReproducible builds the linux/amd64 release binary twice, from two copies of the
// committed tree in two directories, and wants the same bytes: nothing of the build machine or
// the directory may reach the binary.
func TestReleaseReproducible(t *testing.T) {
	need(t, "git")
	if testing.Short() {
		t.Skip("builds moat twice")
	}
	root := repoRoot(t)
	var sums []string
	for _, name := range []string{"a", "b"} {
		src := filepath.Join(t.TempDir(), "src-"+name)
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(t.TempDir(), "src.tar")
		run(t, nil, root, "git", "archive", "--output="+archive, "HEAD")
		run(t, nil, src, "tar", "-xf", archive)
		dist := filepath.Join(t.TempDir(), "dist-"+name)
		makeRelease(t, src, dist, "release-bin", "RELEASE_OS=linux", "RELEASE_ARCH=amd64")
		sums = append(sums, sha256File(t, filepath.Join(dist, "moat_"+testVersion+"_linux_amd64")))
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds of one commit differ: sha256 %s and %s", sums[0], sums[1])
	}
}

// TestDockerfile checks the Dockerfile's shape (one stage FROM scratch, nothing downloaded or
// run, a non-root user) and that every file it copies is what make produces, inside the build
// context .dockerignore leaves. There is no Docker engine here to build it.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	dockerfile := readFile(t, filepath.Join(root, "Dockerfile"))
	var from, user []string
	var copies [][]string
	for _, line := range strings.Split(dockerfile, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			from = append(from, strings.Join(f[1:], " "))
		case "USER":
			user = f[1:]
		case "COPY":
			copies = append(copies, f[1:])
		case "RUN", "ADD":
			t.Errorf("%s: the image must build offline from make release's files: %q", f[0], line)
		}
		if strings.Contains(line, "://") {
			t.Errorf("a URL in the Dockerfile: %q", line)
		}
	}
	if len(from) != 1 || from[0] != "scratch" {
		t.Errorf("FROM: got %q, want one stage FROM scratch", from)
	}
	if len(user) != 1 || strings.HasPrefix(user[0], "0") || strings.HasPrefix(user[0], "root") {
		t.Errorf("USER: got %q, want a non-root uid:gid", user)
	}

	// The build context as make release leaves it: dist/ and packaging/docker/.
	context := t.TempDir()
	makeRelease(t, root, filepath.Join(context, "dist"), "release-bin", "release-ca", "RELEASE_OS=linux", "RELEASE_ARCH=amd64")
	if err := os.MkdirAll(filepath.Join(context, "packaging/docker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(context, "packaging/docker/moat.yaml"), []byte(readFile(t, "docker/moat.yaml")), 0o644); err != nil {
		t.Fatal(err)
	}
	var kept []string // the .dockerignore exceptions: everything else is left out
	for _, line := range strings.Split(readFile(t, filepath.Join(root, ".dockerignore")), "\n") {
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "!"); ok {
			kept = append(kept, p)
		}
	}
	args := strings.NewReplacer("${VERSION}", testVersion, "${TARGETARCH}", "amd64")
	if len(copies) == 0 {
		t.Fatal("the Dockerfile copies nothing")
	}
	for _, c := range copies {
		if len(c) != 2 || strings.HasPrefix(c[0], "--") {
			t.Errorf("COPY %q: want COPY SOURCE DEST from the build context", c)
			continue
		}
		src := args.Replace(c[0])
		if _, err := os.Stat(filepath.Join(context, src)); err != nil {
			t.Errorf("COPY %s: %v", c[0], err)
		}
		inContext := false
		for _, p := range kept {
			if ok, _ := filepath.Match(p, src); ok {
				inContext = true
			}
		}
		if !inContext {
			t.Errorf("COPY %s: .dockerignore leaves it out of the build context", c[0])
		}
	}
	if got := sha256File(t, filepath.Join(context, "dist/ca-certificates.crt")); got != sha256File(t, "/etc/ssl/certs/ca-certificates.crt") {
		t.Errorf("dist/ca-certificates.crt is not the machine's CA bundle")
	}
}

// TestLogrotate runs logrotate on the .deb's logrotate file (its paths moved to a temporary
// directory, its signal sent to a moat started here rather than through systemd): the access log
// is rotated, moat reopens it on USR1, and the next request's line is in the new file.
func TestLogrotate(t *testing.T) {
	logrotate := need(t, "logrotate")
	conf := readFile(t, "deb/logrotate")
	for _, want := range []string{"/var/log/moat/*.log", "create 0640 moat moat", "systemctl kill --signal=USR1 --kill-whom=main moat.service"} {
		if !strings.Contains(conf, want) {
			t.Fatalf("deb/logrotate lacks %q", want)
		}
	}
	dir := t.TempDir()
	binary := filepath.Join(dir, "moat")
	run(t, nil, repoRoot(t), "go", "build", "-o", binary, "./cmd/moat")
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer origin.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	logs := filepath.Join(dir, "log")
	os.Mkdir(logs, 0o755)
	config := filepath.Join(dir, "moat.yaml")
	os.WriteFile(config, []byte(fmt.Sprintf("listen: %s\norigin: {url: %s}\nlog: {access_file: %s/access.log}\n", listen, origin.URL, logs)), 0o644)
	cmd := exec.Command(binary, "serve", "--config", config)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	get := func(path string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get("http://" + listen + path)
			if err == nil {
				resp.Body.Close()
				return
			}
			if time.Now().After(deadline) {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
				return
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(path)
				t.Fatalf("%s never held %q:\n%s", path, want, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	get("/before-rotation")
	waitFor(filepath.Join(logs, "access.log"), "/before-rotation")

	conf = strings.ReplaceAll(conf, "/var/log/moat", logs)
	conf = strings.ReplaceAll(conf, "create 0640 moat moat", "create 0640")
	conf = strings.ReplaceAll(conf, "systemctl kill --signal=USR1 --kill-whom=main moat.service", fmt.Sprintf("kill -USR1 %d", cmd.Process.Pid))
	confPath := filepath.Join(dir, "logrotate.conf")
	os.WriteFile(confPath, []byte(conf), 0o644)
	run(t, nil, dir, logrotate, "--force", "--state", filepath.Join(dir, "state"), confPath)

	waitFor(filepath.Join(logs, "access.log.1"), "/before-rotation")
	get("/after-rotation")
	waitFor(filepath.Join(logs, "access.log"), "/after-rotation")
	if b, _ := os.ReadFile(filepath.Join(logs, "access.log.1")); strings.Contains(string(b), "/after-rotation") {
		t.Error("the rotated file got the line written after the rotation: moat did not reopen its log")
	}
}
