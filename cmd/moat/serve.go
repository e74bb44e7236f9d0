package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/server"
)

func cmdServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	path := fs.String("config", "moat.yaml", "config file")
	drain := fs.Duration("drain", 30*time.Second, "how long shutdown waits for in-flight requests")
	warmUp := fs.Bool("warm", false, "warm the cache before /readyz reports ready: from the fleet's hot set in L2 (cache.redis), else from hotkeys.file")
	var wf warmFlags
	wf.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadServeConfig(*path, stderr)
	if !ok {
		return 1
	}
	log := newLogger(stderr, cfg.Log.SlogLevel(), cfg.Log.Format)
	for _, w := range cfg.Warnings() {
		log.Warn("config: "+w.Msg, "file", w.Source, "line", w.Line, "key", w.Key)
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	srv.SetConfigSource(func() (*config.Config, error) { return config.LoadServe(*path) })
	// SIGHUP reloads from the start: one sent during the warm-up is not
	// the default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *warmUp {
		srv.HoldReady()
	}
	proxyAddr, adminAddr, err := srv.Start()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *warmUp {
		go func() {
			scheme := "http://"
			if cfg.TLS.CertFile != "" {
				scheme = "https://"
			}
			done := false
			if cfg.Cache.Redis != nil {
				var err error
				if done, err = warmFromFleet(ctx, srv, cfg, scheme+proxyAddr, &wf, log); err != nil {
					log.Warn("warm-up from the fleet failed", "err", err)
				}
			}
			if !done && (cfg.Hotkeys.File != "" || cfg.Cache.Redis == nil) {
				if err := warmFromHotkeys(ctx, cfg, scheme+proxyAddr, &wf, stderr, log); err != nil {
					log.Error("warm-up failed; serving anyway", "err", err)
				}
			}
			srv.MarkReady()
		}()
	}
	log.Info("moat serving", "listen", proxyAddr, "admin", adminAddr, "origin", cfg.Origin.URL, "routes", len(cfg.Routes), "version", versionString())
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		for range usr1 {
			if err := srv.ReopenLogs(); err != nil {
				log.Error("reopening the access log failed", "err", err)
			} else {
				log.Info("log files reopened (SIGUSR1)")
			}
		}
	}()
	go func() {
		for range hup {
			log.Info("SIGHUP: reloading the config", "file", *path)
			_, _ = srv.ReloadConfig() // logged and counted either way
		}
	}()
	code := 0
	select {
	case <-ctx.Done():
		if d := srv.Config().ShutdownDelay.D(); d > 0 {
			// A second signal ends the delay at once (registered before
			// readyz turns, so that no signal finds the default action).
			again := make(chan os.Signal, 1)
			signal.Notify(again, os.Interrupt, syscall.SIGTERM)
			stop()
			srv.Unready()
			log.Info("shutting down: /readyz answers 503, still serving", "shutdown_delay", d)
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-again:
				t.Stop()
				log.Info("second signal: shutting down now")
			}
			signal.Stop(again)
		}
		log.Info("shutting down", "drain", *drain)
	case err := <-srv.Err():
		log.Error("listener failed", "err", err)
		code = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		code = 1
	}
	log.Info("stopped", "exit", code)
	return code
}

// loadServeConfig loads and checks a config for serving; on error it prints
// every problem (file:line: key: message) to stderr.
func loadServeConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.LoadServe(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, false
	}
	return cfg, true
}
