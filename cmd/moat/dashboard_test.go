package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

var dashboardLine = regexp.MustCompile(`(?m)^Dashboard: (\S+)  \(one-time link, valid 60s\)$`)

// TestDashboardCommand: moat dashboard prints a one-time link whose code
// (not the admin token) opens a session that reads the admin API, once.
func TestDashboardCommand(t *testing.T) {
	m := startMoat(t)
	code, out, errs := runCLI(t, "dashboard", "--no-open", "--admin", m.admin, "--token", adminTestToken)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	match := dashboardLine.FindStringSubmatch(out)
	if match == nil {
		t.Fatalf("output %q: want \"Dashboard: URL  (one-time link, valid 60s)\"", out)
	}
	link := match[1]
	if strings.Contains(link, adminTestToken) {
		t.Fatalf("link %s holds the admin token", link)
	}
	loginCode, ok := strings.CutPrefix(link, m.admin+"/#login=")
	if !ok || loginCode == "" {
		t.Fatalf("link %s: want %s/#login=CODE", link, m.admin)
	}

	status, body := postJSON(t, m.admin+"/api/session", `{"code":"`+loginCode+`"}`)
	var session struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(body), &session); status != 200 || err != nil || session.Token == "" {
		t.Fatalf("POST /api/session: %d %s", status, body)
	}
	if session.Token == adminTestToken {
		t.Fatal("the session token is the admin token")
	}
	req, _ := http.NewRequest("GET", m.admin+"/api/stats", nil)
	req.Header.Set("Authorization", "Bearer "+session.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /api/stats with the session token: %d, want 200", resp.StatusCode)
	}
	if status, body := postJSON(t, m.admin+"/api/session", `{"code":"`+loginCode+`"}`); status != 401 {
		t.Errorf("second exchange of the code: %d %s, want 401", status, body)
	}
}

func TestDashboardCommandErrors(t *testing.T) {
	m := startMoat(t)
	t.Setenv("MOAT_ADMIN_TOKEN", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no_token", []string{"--admin", m.admin}, 2, "no token"},
		{"wrong_token", []string{"--admin", m.admin, "--token", "wrong"}, 1, "401"},
		{"stray_argument", []string{"--token", "x", "extra"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, append([]string{"dashboard", "--no-open"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(errs, tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errs, tt.wantCode, tt.wantErr)
			}
		})
	}
}

// Without --no-open the link goes to xdg-open (here a script that records
// its arguments), and only the link: no admin token on its command line.
func TestDashboardCommandOpens(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the fake opener is xdg-open, Linux's")
	}
	m := startMoat(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "args")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + record + ".tmp && mv " + record + ".tmp " + record + "\n"
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("MOAT_ADMIN_TOKEN", adminTestToken)
	code, out, errs := runCLI(t, "dashboard", "--admin", m.admin)
	if code != 0 || !strings.Contains(out, "Opening it with xdg-open") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errs)
	}
	link := dashboardLine.FindStringSubmatch(out)[1]
	var got []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if got, err = os.ReadFile(record); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if strings.TrimSpace(string(got)) != link {
		t.Errorf("xdg-open got %q, want only the link %q", got, link)
	}

	t.Setenv("PATH", t.TempDir())
	code, out, errs = runCLI(t, "dashboard", "--admin", m.admin)
	if code != 0 || !strings.Contains(errs, "found no xdg-open") || dashboardLine.FindString(out) == "" {
		t.Errorf("without xdg-open: exit %d, stdout %q, stderr %q; want the link and a note", code, out, errs)
	}
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
