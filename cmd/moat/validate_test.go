package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidateWarnings(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const origin = "origin: {url: http://127.0.0.1:9000}\n"
	clean := write("clean.yaml", origin+"routes:\n  - match: GET /a\n    ttl: 5m\n")
	long := write("long.yaml", origin+"routes:\n  - match: GET /a\n    ttl: 90d\n")
	vary := write("vary.yaml", origin+"routes:\n  - match: GET /a\n    vary: [Authorization]\n")
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     string // must contain
		stderrLine string // a whole line stderr must hold, if not ""
	}{
		{"clean", []string{"--config", clean}, 0, "clean.yaml: ok (1 routes)\n", ""},
		{"clean_strict", []string{"--strict", "--config", clean}, 0, "clean.yaml: ok (1 routes)\n", ""},
		{"warning_exits_0", []string{"--config", long}, 0, "long.yaml: ok (1 routes, 1 warnings)\n",
			long + ":4: routes[0].ttl: warning: 2160h (90 days) is more than 30 days: a wrong or outdated response would be served that long unless it is purged; prefer a shorter ttl with stale_while_revalidate"},
		{"warning_strict_exits_1", []string{"--strict", "--config", long}, 1, "", long + ": not ok: --strict fails on warnings"},
		{"vary_on_credentials_is_an_error", []string{"--config", vary}, 1, "",
			vary + ":4: routes[0].vary[0]: Authorization carries credentials (HTTP authentication): varying on it would put them into cache keys, " +
				"the /api/keys listing and the hot-key file; use scope: tier or scope: user instead"},
		{"example_placeholder_token_on_loopback_warns", []string{"--config", "../../examples/moat.yaml"}, 0, "ok (4 routes, 1 warnings)",
			`../../examples/moat.yaml:10: admin.token: warning: the token is a well-known placeholder: any local user or process could purge the cache and list its keys; ` +
				`use at least 16 random bytes (e.g. openssl rand -hex 32), or "${NAME}" to read it from the environment`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"validate"}, tt.args...), &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if got := out.String(); !strings.Contains(got, tt.stdout) || tt.stdout == "" && got != "" {
				t.Errorf("stdout %q, want %q", got, tt.stdout)
			}
			lines := strings.Split(strings.TrimSuffix(errb.String(), "\n"), "\n")
			if tt.stderrLine == "" && errb.Len() > 0 || tt.stderrLine != "" && !slices.Contains(lines, tt.stderrLine) {
				t.Errorf("stderr:\n%s\nwant the line:\n%s", errb.String(), tt.stderrLine)
			}
		})
	}
}

// A missing origin.url is reported with the file's other problems, in one
// pass.
func TestValidateReportsMissingOriginWithOtherProblems(t *testing.T) {
	path := filepath.Join(t.TempDir(), "moat.yaml")
	if err := os.WriteFile(path, []byte("cache:\n  memroy: 1GiB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := cmdValidate([]string{"--config", path}, &out, &errOut); code != 1 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"cache.memroy: unknown key", "origin.url: required to serve"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("validate output lacks %q:\n%s", want, errOut.String())
		}
	}
}

// Every command's -h says what it does, with examples and its flags.
func TestEveryCommandHasHelp(t *testing.T) {
	for name := range helps {
		var out, errOut bytes.Buffer
		code := run([]string{name, "-h"}, &out, &errOut)
		text := out.String() + errOut.String()
		for _, want := range []string{"Usage: moat " + name, "Examples:", "Flags:"} {
			if !strings.Contains(text, want) {
				t.Errorf("moat %s -h (exit %d) lacks %q:\n%s", name, code, want, text)
			}
		}
	}
	var out bytes.Buffer
	run([]string{"version"}, &out, &out)
	if !strings.Contains(out.String(), "go1.") {
		t.Errorf("moat version does not say which Go built it: %q", out.String())
	}
}

// The bash completion script completes commands and a command's flags,
// run in a real bash against the real binary.
func TestBashCompletion(t *testing.T) {
	bin := moatBinary(t)
	dir := filepath.Dir(bin)
	if filepath.Base(bin) != "moat" {
		link := filepath.Join(t.TempDir(), "moat")
		if err := os.Symlink(bin, link); err != nil {
			t.Fatal(err)
		}
		dir = filepath.Dir(link)
	}
	script := `source <(moat completion bash)
COMP_WORDS=(moat va); COMP_CWORD=1; _moat; echo "1:${COMPREPLY[*]}"
COMP_WORDS=(moat serve --dr); COMP_CWORD=2; _moat; echo "2:${COMPREPLY[*]}"`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"1:validate", "2:--drain"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("completion output lacks %q:\n%s", want, out)
		}
	}
}
