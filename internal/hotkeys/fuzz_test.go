package hotkeys

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzReadFile(f *testing.F) {
	const header = `{"format":"moat-hotkeys","version":1,"written":"2026-05-01T12:00:00Z","half_life":"1m0s"}` + "\n"
	for _, s := range []string{
		"",
		header,
		header + `{"key":"a","url":"/a?b=1","rate":3.5}` + "\n",
		header + `{"key":"a","url":"/a","rate":1e308}` + "\n" + `{"key":"b"}`,
		`{"format":"moat-hotkeys","version":99}`,
		"\x00\xff{",
		header + `{"key":"a","url":"/a","rate":-0}` + "\n",
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Skip(err)
		}
		hots, err := ReadFile(path)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrVersion) {
				t.Fatalf("content error without a sentinel: %v", err)
			}
			return
		}
		for _, h := range hots {
			if h.Key == "" || h.Rate < 0 || (h.URL != "" && h.URL[0] != '/') {
				t.Fatalf("ReadFile accepted %+v", h)
			}
		}
	})
}
