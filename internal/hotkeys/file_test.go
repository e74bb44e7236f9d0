package hotkeys

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestWriteReadFile(t *testing.T) {
	clk := newClock()
	tr := New(Options{Now: clk.Now})
	for i, k := range []string{"a", "b", "c", `q"uote`, "<html>&"} {
		for range 10 * (i + 1) {
			tr.Observe(k, "/"+k+"?x=1&y=2")
		}
	}
	path := filepath.Join(t.TempDir(), "hot.jsonl")
	if err := tr.WriteFile(path, 4); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := tr.Top(4)
	if len(got) != len(want) {
		t.Fatalf("ReadFile = %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after WriteFile, want 1 (no temporary left)", len(entries))
	}
	if s := tr.Stats(); s.Writes != 1 || s.WriteErrors != 0 {
		t.Errorf("Stats = %+v, want 1 write", s)
	}

	// Overwrite replaces.
	if err := tr.WriteFile(path, 1); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadFile(path); len(got) != 1 || got[0].Key != "<html>&" {
		t.Errorf("after rewrite: %+v", got)
	}
}

func TestWriteFileError(t *testing.T) {
	tr := New(Options{})
	err := tr.WriteFile(filepath.Join(t.TempDir(), "missing", "hot.jsonl"), 10)
	if err == nil || !strings.Contains(err.Error(), "hot.jsonl") {
		t.Errorf("WriteFile into a missing directory: err = %v, want an error naming the file", err)
	}
	if s := tr.Stats(); s.WriteErrors != 1 {
		t.Errorf("WriteErrors = %d, want 1", s.WriteErrors)
	}
}

func TestReadFileErrors(t *testing.T) {
	const header = `{"format":"moat-hotkeys","version":1,"written":"2026-05-01T12:00:00Z"}` + "\n"
	tests := []struct {
		name     string
		content  string
		sentinel error
		line     int
		detail   string
	}{
		{"empty", "", ErrFormat, 1, "empty file"},
		{"blank_lines_only", "\n\n", ErrFormat, 2, "empty file"},
		{"not_json", "GET /a\n", ErrFormat, 1, "no header"},
		{"other_format", `{"format":"nginx","version":1}` + "\n", ErrFormat, 1, "no header"},
		{"future_version", `{"format":"moat-hotkeys","version":2}` + "\n", ErrVersion, 1, "version 2"},
		{"bad_entry_json", header + `{"key":"a","url":"/a","rate":1}` + "\n" + `{"key":` + "\n", ErrFormat, 3, "unexpected end"},
		{"entry_wrong_type", header + `{"key":"a","url":"/a","rate":"fast"}` + "\n", ErrFormat, 2, "rate"},
		{"empty_key", header + `{"url":"/a","rate":1}` + "\n", ErrFormat, 2, "empty key"},
		{"relative_url", header + `{"key":"a","url":"a","rate":1}` + "\n", ErrFormat, 2, "does not start with /"},
		{"negative_rate", header + `{"key":"a","url":"/a","rate":-1}` + "\n", ErrFormat, 2, "rate -1"},
		{"line_too_long", header + `{"key":"` + strings.Repeat("a", maxLineSize) + `"}` + "\n", ErrFormat, 2, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "hot.jsonl")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := ReadFile(path)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("err = %v, want %v", err, tt.sentinel)
			}
			loc := path + ":" + strconv.Itoa(tt.line) + ":"
			if !strings.Contains(err.Error(), loc) || !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("err = %q, want it to contain %q and %q", err, loc, tt.detail)
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		_, err := ReadFile(filepath.Join(t.TempDir(), "nope.jsonl"))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("err = %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("unknown_fields_and_blank_lines_accepted", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hot.jsonl")
		content := header + "\n" + `{"key":"a","url":"/a","rate":2,"extra":true}` + "\n\n" + `{"key":"b","url":"","rate":0}` + "\n"
		os.WriteFile(path, []byte(content), 0o600)
		got, err := ReadFile(path)
		if err != nil || len(got) != 2 || got[0] != (Hot{Key: "a", URL: "/a", Rate: 2}) {
			t.Errorf("ReadFile = %+v, %v", got, err)
		}
	})
}

func TestRun(t *testing.T) {
	t.Run("writes_at_shutdown", func(t *testing.T) {
		tr := New(Options{})
		tr.Observe("k", "/k")
		path := filepath.Join(t.TempDir(), "hot.jsonl")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			tr.Run(ctx, path, 10, time.Hour, nil)
			close(done)
		}()
		tr.Observe("late", "/late") // after Run started, before shutdown
		cancel()
		<-done
		got, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Errorf("shutdown write holds %+v, want k and late", got)
		}
	})

	t.Run("writes_periodically", func(t *testing.T) {
		tr := New(Options{})
		tr.Observe("k", "/k")
		path := filepath.Join(t.TempDir(), "hot.jsonl")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		go func() {
			tr.Run(ctx, path, 10, 5*time.Millisecond, nil)
			close(done)
		}()
		for deadline := time.Now().Add(10 * time.Second); tr.Stats().Writes < 3; {
			if time.Now().After(deadline) {
				t.Fatalf("no periodic writes: %+v", tr.Stats())
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		if _, err := ReadFile(path); err != nil {
			t.Error(err)
		}
	})

	t.Run("errors_logged_and_counted", func(t *testing.T) {
		tr := New(Options{})
		var logs strings.Builder
		log := slog.New(slog.NewTextHandler(&logs, nil))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		tr.Run(ctx, filepath.Join(t.TempDir(), "missing", "hot.jsonl"), 10, time.Hour, log)
		if s := tr.Stats(); s.WriteErrors != 1 {
			t.Errorf("WriteErrors = %d, want 1", s.WriteErrors)
		}
		if !strings.Contains(logs.String(), "hot keys not saved") || !strings.Contains(logs.String(), "when=shutdown") {
			t.Errorf("log = %q", logs.String())
		}
	})
}
