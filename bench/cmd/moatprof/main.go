//go:build moatprof

// Command moatprof is `moat serve` with net/http/pprof on a separate
// listener, for profiling the gateway under load (bench/profile.sh,
// make bench-profile). It is built only with -tags moatprof, so that
// changes to the server package's API never break the regular build.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof/ on http.DefaultServeMux
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
)

func main() {
	path := flag.String("config", "moat.yaml", "config file")
	pprofAddr := flag.String("pprof", "127.0.0.1:6060", "address of the pprof listener")
	flag.Parse()
	cfg, err := config.Load(*path)
	if err == nil {
		err = cfg.ValidateServe()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, _, err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() { fmt.Fprintln(os.Stderr, http.ListenAndServe(*pprofAddr, nil)) }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
