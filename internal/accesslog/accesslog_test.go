package accesslog

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReopenAfterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := New(f, Text)
	l.Info("request", "path", "/before")
	if err := os.Rename(path, path+".1"); err != nil { // logrotate
		t.Fatal(err)
	}
	l.Info("request", "path", "/still-old-file")
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Info("request", "path", "/after")
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "/before") || !strings.Contains(string(old), "/still-old-file") || strings.Contains(string(old), "/after") {
		t.Errorf("rotated file:\n%s", old)
	}
	if !strings.Contains(string(cur), "/after") || strings.Contains(string(cur), "/before") {
		t.Errorf("new file:\n%s", cur)
	}
}

func TestCombined(t *testing.T) {
	var b strings.Builder
	New(&b, Combined).LogAttrs(t.Context(), slog.LevelInfo, "request",
		slog.String("method", "GET"), slog.String("path", "/a?b=1"), slog.String("proto", "HTTP/1.1"),
		slog.Int("status", 200), slog.Int64("bytes", 42), slog.String("remote", "203.0.113.7"),
		slog.String("user_agent", `curl "8"`), slog.String("host", "api.example"), slog.String("cache", "hit"),
		slog.String("route", "GET /a"), slog.Float64("dur_ms", 0.25))
	line := b.String()
	for _, want := range []string{`203.0.113.7 - - [`, `] "GET /a?b=1 HTTP/1.1" 200 42 "-" "curl \"8\"" api.example hit "GET /a" 0.25`} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
}
