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
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
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
	describe(fs)
	fs.SetOutput(stderr)
	path := fs.String("config", "moat.yaml", "config file (for the listen address and the hot-key file)")
	from := fs.String("from", "", "what to warm: a URL list (one per line), a sitemap.xml, hotkeys (the config's hotkeys.file), or fleet (the fleet's hot set in cache.redis, from L2 only)")
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var paths []string
	fleet := *from == "fleet"
	if fleet {
		paths, err = fleetHot(ctx, cfg)
	} else {
		paths, err = warm.Load(*from, cfg.Hotkeys.File)
	}
	if err != nil {
		fmt.Fprintln(stderr, "moat warm:", err)
		return 1
	}
	opts, err := wf.options(*base, stderr, newLogger(stderr, slog.LevelWarn, "text"))
	if err != nil {
		fmt.Fprintln(stderr, "moat warm:", err)
		return 2
	}
	if fleet {
		// From L2 only: a URL the fleet no longer holds is answered 504,
		// never fetched from the origin (RFC 9111 §5.2.1.7).
		opts.Header.Set("Cache-Control", "only-if-cached")
	}
	var sum warm.Summary
	if fleet {
		sum, err = warmByHost(ctx, opts, paths)
	} else {
		sum, err = warm.Run(ctx, opts, paths)
	}
	sum.Print(stdout)
	if err != nil {
		fmt.Fprintln(stderr, "moat warm:", err)
		return 1
	}
	failed := sum.Failed
	if fleet {
		if n := sum.ByStatus[http.StatusGatewayTimeout]; n > 0 {
			fmt.Fprintf(stdout, "%d URLs of the hot set were no longer in L2 (not fetched from the origin)\n", n)
			failed -= n
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// fleetHot reads the fleet's hot set from the config's Redis.
func fleetHot(ctx context.Context, cfg *config.Config) ([]string, error) {
	if cfg.Cache.Redis == nil {
		return nil, errors.New("--from fleet needs cache.redis in the config")
	}
	c, err := server.OpenRedis(cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	r := cfg.Cache.Redis.WithDefaults(cfg.Cache.MaxObjectSize)
	rctx, cancel := context.WithTimeout(ctx, r.DialTimeout.D()+5*time.Second)
	defer cancel()
	if err := waitConnected(rctx, c); err != nil {
		return nil, fmt.Errorf("Redis: %w", err)
	}
	return c.Hot(rctx, max(cfg.Hotkeys.Top, 1))
}

// waitConnected polls until c has connected or ctx ends.
func waitConnected(ctx context.Context, c interface{ Ping(context.Context) error }) error {
	for {
		err := c.Ping(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// warmFromFleet warms a just-started gateway from the fleet's hot set, from
// L2 only. It reports false when there is no hot set to warm from.
func warmFromFleet(ctx context.Context, srv *server.Server, cfg *config.Config, base string, wf *warmFlags, log *slog.Logger) (bool, error) {
	r := cfg.Cache.Redis.WithDefaults(cfg.Cache.MaxObjectSize)
	rctx, cancel := context.WithTimeout(ctx, r.DialTimeout.D()+5*time.Second)
	paths, err := srv.FleetHot(rctx, max(cfg.Hotkeys.Top, 1))
	cancel()
	if err != nil || len(paths) == 0 {
		return false, err
	}
	opts, err := wf.options(base, nil, log)
	if err != nil {
		return false, err
	}
	opts.Header.Set("Cache-Control", "only-if-cached")
	sum, err := warmByHost(ctx, opts, paths)
	log.Info("warm-up from the fleet done", "urls", sum.Total, "from_l2", sum.Hits, "not_in_l2", sum.ByStatus[http.StatusGatewayTimeout], "took", sum.Duration)
	return true, err
}

// warmByHost warms absolute URLs, each with its own Host (keys include the
// host), one warm.Run per host.
func warmByHost(ctx context.Context, opts warm.Options, urls []string) (warm.Summary, error) {
	byHost := map[string][]string{}
	var hosts []string
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		if byHost[u.Host] == nil {
			hosts = append(hosts, u.Host)
		}
		byHost[u.Host] = append(byHost[u.Host], u.RequestURI())
	}
	total := warm.Summary{ByStatus: map[int]int64{}}
	for _, h := range hosts {
		o := opts
		o.Header = opts.Header.Clone()
		o.Header.Set("Host", h)
		sum, err := warm.Run(ctx, o, byHost[h])
		total.Add(sum)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// warmFromHotkeys warms a just-started gateway from the hot-key file; a
// missing file (first start) is not an error.
func warmFromHotkeys(ctx context.Context, cfg *config.Config, base string, wf *warmFlags, stderr io.Writer, log *slog.Logger) error {
	if cfg.Hotkeys.File == "" {
		return errors.New("--warm needs hotkeys.file (or cache.redis) in the config")
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
