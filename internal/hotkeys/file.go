package hotkeys

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The hot-keys file is JSON lines: a header, then one line per key, hottest
// first:
//
//	{"format":"moat-hotkeys","version":1,"written":"2026-05-01T12:00:00Z","half_life":"1m0s"}
//	{"key":"GET http://api.example/products/1","url":"/products/1","rate":41.7}
//
// Readers reject other formats and versions; fields they do not know are
// ignored, so a version can grow fields without a new number.
const (
	fileFormat  = "moat-hotkeys"
	fileVersion = 1
	maxLineSize = 1 << 20
)

var (
	// ErrFormat is wrapped by errors about a file that is not a well-formed
	// hot-keys file.
	ErrFormat = errors.New("malformed hot-keys file")
	// ErrVersion is wrapped by errors about a hot-keys file written by a
	// version of moat whose format this one cannot read.
	ErrVersion = errors.New("unsupported hot-keys file version")
)

type fileHeader struct {
	Format   string    `json:"format"`
	Version  int       `json:"version"`
	Written  time.Time `json:"written"`
	HalfLife string    `json:"half_life,omitempty"`
}

type fileEntry struct {
	Key  string  `json:"key"`
	URL  string  `json:"url"`
	Rate float64 `json:"rate"`
}

// WriteFile writes the n hottest keys to path, replacing it atomically: the
// file is written and synced under a temporary name in the same directory,
// then renamed, so a reader (or a crash) sees the old file or the new one,
// never a part. The file is created with mode 0600, as its URLs may be
// worth keeping private.
func (t *Tracker) WriteFile(path string, n int) (err error) {
	defer func() {
		if err != nil {
			t.writeErrors.Add(1)
		} else {
			t.writes.Add(1)
		}
	}()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(fileHeader{
		Format: fileFormat, Version: fileVersion,
		Written: t.now().UTC().Truncate(time.Second), HalfLife: t.halfLife.String(),
	}); err != nil {
		return fmt.Errorf("hotkeys: write %s: %w", path, err)
	}
	for _, h := range t.Top(n) {
		if math.IsInf(h.Rate, 0) || math.IsNaN(h.Rate) { // only with a clock far in the past
			continue
		}
		if err := enc.Encode(fileEntry{Key: h.Key, URL: h.URL, Rate: h.Rate}); err != nil {
			return fmt.Errorf("hotkeys: write %s: %w", path, err)
		}
	}
	return writeAtomic(path, buf.Bytes())
}

func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("hotkeys: write %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("hotkeys: write %s: %w", path, err)
	}
	// Make the rename durable; a failure here loses nothing written.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// ReadFile reads a file written by WriteFile, hottest key first. An error
// about the content names the file and line and wraps ErrFormat or
// ErrVersion; a missing file gives an error that matches fs.ErrNotExist.
func ReadFile(path string) ([]Hot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("hotkeys: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineSize)
	line := 0
	fail := func(sentinel error, format string, args ...any) ([]Hot, error) {
		return nil, fmt.Errorf("hotkeys: %s:%d: %w: %s", path, line, sentinel, fmt.Sprintf(format, args...))
	}
	var hots []Hot
	header := false
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		if !header {
			var h fileHeader
			if err := json.Unmarshal(b, &h); err != nil || h.Format != fileFormat {
				return fail(ErrFormat, "no header line; want %s", `{"format":"moat-hotkeys","version":1,...}`)
			}
			if h.Version != fileVersion {
				return fail(ErrVersion, "version %d, this moat reads version %d; delete the file or write it again with this moat", h.Version, fileVersion)
			}
			header = true
			continue
		}
		var e fileEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return fail(ErrFormat, "%v", err)
		}
		switch {
		case e.Key == "":
			return fail(ErrFormat, "empty key")
		case e.URL != "" && !strings.HasPrefix(e.URL, "/"):
			return fail(ErrFormat, "url %q does not start with /", e.URL)
		case e.Rate < 0 || math.IsNaN(e.Rate) || math.IsInf(e.Rate, 0):
			return fail(ErrFormat, "rate %v is not a non-negative number", e.Rate)
		}
		hots = append(hots, Hot(e))
	}
	if err := sc.Err(); err != nil {
		line++
		if errors.Is(err, bufio.ErrTooLong) {
			return fail(ErrFormat, "line longer than %d bytes", maxLineSize)
		}
		return nil, fmt.Errorf("hotkeys: read %s: %w", path, err)
	}
	if !header {
		line = max(line, 1)
		return fail(ErrFormat, "empty file; want a header line %s", `{"format":"moat-hotkeys","version":1,...}`)
	}
	return hots, nil
}
