// Package accesslog writes moat's access log: to a file of its own that
// SIGUSR1 reopens (logrotate moves the file, then signals), in slog's text
// or JSON, or in Apache's combined format that log tools read.
package accesslog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"
)

// File is an append-only log file that Reopen opens again by name, for
// log rotation. It is safe for concurrent use.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Open opens path for appending, creating it (mode 0640) if needed.
func Open(path string) (*File, error) {
	f := &File{path: path}
	if err := f.Reopen(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reopen closes the file and opens its path again: after logrotate renamed
// it, new lines go to a new file of that name.
func (f *File) Reopen() error {
	nf, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("accesslog: %w", err)
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	if old != nil {
		return old.Close()
	}
	return nil
}

// Write appends p (one line).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(p)
}

// Close closes the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}

// Formats of New.
const (
	Text     = "text"
	JSON     = "json"
	Combined = "combined"
)

// New returns a logger writing access lines to w in format.
func New(w io.Writer, format string) *slog.Logger {
	switch format {
	case JSON:
		return slog.New(slog.NewJSONHandler(w, nil))
	case Combined:
		return slog.New(&combined{w: w})
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// combined is a slog.Handler writing the gateway's access records as
// Apache's combined format, with moat's own fields after it:
//
//	remote - - [02/Dec/2026:06:58:24 +0000] "GET /path HTTP/1.1" 200 1234 "referer" "user agent" host cache route dur_ms
type combined struct {
	mu sync.Mutex
	w  io.Writer
}

func (c *combined) Enabled(context.Context, slog.Level) bool { return true }
func (c *combined) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *combined) WithGroup(string) slog.Handler            { return c }

func (c *combined) Handle(_ context.Context, r slog.Record) error {
	v := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		v[a.Key] = a.Value.String()
		return true
	})
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	line := fmt.Sprintf("%s - - [%s] %s %s %s %s %s %s %s %s %s\n",
		dash(v["remote"]), t.Format("02/Jan/2006:15:04:05 -0700"),
		strconv.Quote(v["method"]+" "+v["path"]+" "+dash(v["proto"])), dash(v["status"]), dash(v["bytes"]),
		strconv.Quote(dash(v["referer"])), strconv.Quote(dash(v["user_agent"])),
		dash(v["host"]), dash(v["cache"]), strconv.Quote(dash(v["route"])), dash(v["dur_ms"]))
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, line)
	return err
}
