package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/warm"
)

// warmFlags are the flags shared by `moat warm` and `moat serve --warm`.
type warmFlags struct {
	concurrency int
	rate        float64
	timeout     time.Duration
	headers     listFlag
}

func (w *warmFlags) register(fs *flag.FlagSet) {
	fs.IntVar(&w.concurrency, "concurrency", 8, "warm-up requests in flight at once")
	fs.Float64Var(&w.rate, "rate", 0, "warm-up requests per second at most (0: no limit)")
	fs.DurationVar(&w.timeout, "warm-timeout", 10*time.Second, "per warm-up request")
	fs.Var(&w.headers, "header", `header sent with warm-up requests, "Name: value" (repeatable), e.g. the Host clients send`)
}

func (w *warmFlags) options(base string, progress io.Writer, log *slog.Logger) (warm.Options, error) {
	hdr := http.Header{}
	for _, h := range w.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return warm.Options{}, fmt.Errorf("--header %q: want Name: value", h)
		}
		hdr.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	return warm.Options{BaseURL: base, Concurrency: w.concurrency, Rate: w.rate, Timeout: w.timeout,
		Header: hdr, Progress: progress, Logger: log}, nil
}

func cmdWarm(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "moat.yaml", "config file (for the listen address and the hot-key file)")
	from := fs.String("from", "", "what to warm: a URL list (one per line), a sitemap.xml, or hotkeys (the config's hotkeys.file)")
	base := fs.String("base", "", "gateway base URL (default: http:// + the config's listen address)")
	var wf warmFlags
	wf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *from == "" {
		fmt.Fprintln(stderr, "moat warm: --from is required (urls.txt, sitemap.xml or hotkeys)")
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *base == "" {
		*base = "http://" + cfg.Listen
		if cfg.TLS.CertFile != "" {
			*base = "https://" + cfg.Listen
		}
	}
	paths, err := warm.Load(*from, cfg.Hotkeys.File)
	if err != nil {
		fmt.Fprintln(stderr, "moat warm:", err)
		return 1
	}
	opts, err := wf.options(*base, stderr, newLogger(stderr, slog.LevelWarn, "text"))
	if err != nil {
		fmt.Fprintln(stderr, "moat warm:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := warm.Run(ctx, opts, paths)
	sum.Print(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "moat warm:", err)
		return 1
	}
	if sum.Failed > 0 {
		return 1
	}
	return 0
}

// warmFromHotkeys warms a just-started gateway from the hot-key file; a
// missing file (first start) is not an error.
func warmFromHotkeys(ctx context.Context, cfg *config.Config, base string, wf *warmFlags, stderr io.Writer, log *slog.Logger) error {
	if cfg.Hotkeys.File == "" {
		return errors.New("--warm needs hotkeys.file in the config")
	}
	paths, err := warm.Load("hotkeys", cfg.Hotkeys.File)
	if errors.Is(err, fs.ErrNotExist) {
		log.Info("no hot-key file yet: nothing to warm", "file", cfg.Hotkeys.File)
		return nil
	}
	if err != nil {
		return err
	}
	opts, err := wf.options(base, nil, log)
	if err != nil {
		return err
	}
	sum, err := warm.Run(ctx, opts, paths)
	log.Info("warm-up done", "urls", sum.Total, "ok", sum.OK, "failed", sum.Failed, "stored", sum.Stored, "took", sum.Duration)
	return err
}
