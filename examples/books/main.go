// Command books is a books REST API on SQLite with moat's cache-aside
// library in front of its database (see README.md).
//
//	books seed  -db books.db                        create and fill the database
//	books serve -db books.db [-redis host:port]      serve the API (-cache=false: no cache)
//	books warm  -db books.db -url http://...         load the most useful keys through a running server
//	books load  -url http://...                      measure requests/s, latency and database queries/s
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/moatproxy/moat/examples/books/books"
	"github.com/moatproxy/moat/internal/loadgen"
	"github.com/moatproxy/moat/redisl2"
)

const usage = `books: a books REST API on SQLite, cached with moat's cache-aside library

Usage:
  books seed  -db books.db [-authors 2000 -books 50000 -reviews 200000] [-force]
  books serve -db books.db [-addr 127.0.0.1:8081] [-redis 127.0.0.1:6379] [-cache=false]
  books warm  -db books.db -url http://127.0.0.1:8081 [-pages 20 -books 200 -rate 100]
  books load  -url http://127.0.0.1:8081 [-d 10s -c 32 -keys 5000] [-stats URL]

Run "books COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "seed":
		err = cmdSeed(ctx, args[1:], stdout, stderr)
	case "serve":
		err = cmdServe(ctx, args[1:], stderr)
	case "warm":
		err = cmdWarm(ctx, args[1:], stdout, stderr)
	case "load":
		err = cmdLoad(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "books: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "books:", err)
		return 1
	}
	return 0
}

// flags returns a FlagSet for command that writes to stderr.
func flags(command string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("books "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func cmdSeed(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("seed", stderr)
	path := fs.String("db", "books.db", "SQLite database file to create")
	var o books.SeedOptions
	fs.IntVar(&o.Authors, "authors", 2_000, "authors")
	fs.IntVar(&o.Books, "books", 50_000, "books")
	fs.IntVar(&o.Reviews, "reviews", 200_000, "reviews")
	fs.Uint64Var(&o.Seed, "seed", 1, "random seed: the same flags write the same data")
	force := fs.Bool("force", false, "replace the database file if it exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *force {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(*path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	store, err := books.Open(*path)
	if err != nil {
		return err
	}
	defer store.Close()
	start := time.Now()
	if err := store.Seed(ctx, o); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d authors, %d books, %d reviews in %v\n", *path, o.Authors, o.Books, o.Reviews, time.Since(start).Round(time.Millisecond))
	return nil
}

func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flags("serve", stderr)
	path := fs.String("db", "books.db", "SQLite database file (see books seed)")
	addr := fs.String("addr", "127.0.0.1:8081", "listen address")
	useCache := fs.Bool("cache", true, "cache reads with the cache-aside library; false: every read queries the database")
	redisAddr := fs.String("redis", "", "Redis host:port: share the caches (L2, loads, invalidations) with every instance on it; empty: memory only")
	prefix := fs.String("redis-prefix", "moat:", "key prefix in Redis (moat's cache.redis.key_prefix, to share purges with moat proxies)")
	l2Timeout := fs.Duration("l2-timeout", 0, "bound on each Redis call of a read (0: 10ms)")
	level := fs.String("log", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("-log: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if _, err := os.Stat(*path); err != nil {
		return fmt.Errorf("%w (run books seed first)", err)
	}
	store, err := books.Open(*path)
	if err != nil {
		return err
	}
	defer store.Close()

	mode := "off"
	var caches *books.Caches
	if *useCache {
		o := books.CacheOptions{L2Timeout: *l2Timeout, Logger: log}
		mode = "memory"
		if *redisAddr != "" {
			rc, err := redisl2.New(redisl2.Options{Addrs: []string{*redisAddr}, KeyPrefix: *prefix})
			if err != nil {
				return err
			}
			defer rc.Close()
			pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err = rc.Ping(pingCtx)
			cancel()
			if err != nil {
				// Redis is never needed to serve: the caches treat it as
				// a miss until it answers.
				log.Warn("books: redis does not answer yet; serving from memory and the database until it does", "addr", *redisAddr, "err", err)
			}
			r := books.Redis(rc, redisl2.BusOptions{Logger: log})
			o.L2, o.Lease, o.Bus = r.L2, r.Lease, r.Bus
			mode = "redis"
		}
		if caches, err = books.NewCaches(o); err != nil {
			return err
		}
		defer caches.Close()
	} else if *redisAddr != "" {
		return errors.New("-redis needs -cache")
	}
	api, err := books.NewAPI(books.Options{Store: store, Caches: caches, Mode: mode, Logger: log})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	log.Info("books: serving", "addr", ln.Addr().String(), "db", *path, "cache", mode)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("books: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

func cmdWarm(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("warm", stderr)
	path := fs.String("db", "books.db", "SQLite database file, read to find the most reviewed books")
	var o books.WarmOptions
	fs.StringVar(&o.BaseURL, "url", "http://127.0.0.1:8081", "the running API, or a moat proxy in front of it")
	pages := fs.Int("pages", 20, fmt.Sprintf("first list pages to load (at most %d)", books.MaxWarmPages))
	most := fs.Int("books", 200, fmt.Sprintf("most reviewed books to load, with their authors' lists (at most %d)", books.MaxWarmBooks))
	fs.Float64Var(&o.Rate, "rate", 100, "requests per second, at most")
	fs.IntVar(&o.Concurrency, "c", 4, "requests at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, err := books.Open(*path)
	if err != nil {
		return err
	}
	defer store.Close()
	paths, err := books.WarmPaths(ctx, store, *pages, *most)
	if err != nil {
		return err
	}
	res, err := books.Warm(ctx, o, paths)
	fmt.Fprintf(stdout, "warmed %d of %d paths in %v (%d failed)\n", res.OK, len(paths), res.Took.Round(time.Millisecond), res.Failed)
	if err != nil {
		return err
	}
	if res.FirstError != nil {
		return fmt.Errorf("first failure: %w", res.FirstError)
	}
	return nil
}

func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flags("load", stderr)
	base := fs.String("url", "http://127.0.0.1:8081", "what to load: the API, or a moat proxy in front of it")
	stats := fs.String("stats", "", "the API itself, for its /debug/stats (default: -url)")
	name := fs.String("name", "", "the setup's name in the output (default: the API's mode)")
	o := loadgen.Options{Seed: 1}
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "how long to run")
	fs.IntVar(&o.Concurrency, "c", 32, "requests in flight (closed loop)")
	keys := fs.Int("keys", 5000, "distinct paths, requested by a Zipf law")
	nBooks := fs.Int("books", 50_000, "book ids to spread the paths over (as seeded)")
	nAuthors := fs.Int("authors", 2_000, "author ids to spread the paths over (as seeded)")
	header := fs.Bool("header", true, "print the header line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stats == "" {
		*stats = *base
	}
	o.BaseURL = *base
	o.Paths = books.LoadPaths(*keys, *nBooks, *nAuthors)
	client := &http.Client{Timeout: 5 * time.Second}
	before, err := books.FetchStats(ctx, client, *stats)
	if err != nil {
		return err
	}
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		return err
	}
	after, err := books.FetchStats(ctx, client, *stats)
	if err != nil {
		return err
	}
	if *name == "" {
		*name = "books (cache " + after.Mode + ")"
	}
	queries := after.DBQueries - before.DBQueries
	var non2xx int64
	for status, n := range res.StatusCounts {
		if status < 200 || status > 299 {
			non2xx += n
		}
	}
	const format = "%-28s %11s %9s %9s %14s %9s %8s\n"
	if *header {
		fmt.Fprintf(stdout, format, "setup", "requests/s", "p50", "p99", "DB queries/s", "non-2xx", "errors")
	}
	fmt.Fprintf(stdout, format, *name, fmt.Sprintf("%.0f", res.RPS), latency(res.P50), latency(res.P99),
		fmt.Sprintf("%.0f", float64(queries)/res.Duration.Seconds()), fmt.Sprint(non2xx), fmt.Sprint(res.Errors))
	return nil
}

// latency prints d in the unit a reader compares at a glance.
func latency(d time.Duration) string {
	if d < 100*time.Microsecond {
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
