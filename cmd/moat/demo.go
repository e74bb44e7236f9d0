package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
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

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/demo"
	"github.com/moatproxy/moat/internal/loadgen"
	"github.com/moatproxy/moat/internal/server"
)

//go:embed demo.yaml
var demoConfig []byte

func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "", "gateway address (default from the demo config, 127.0.0.1:8080; 127.0.0.1:0 picks a free port)")
	adminListen := fs.String("admin", "127.0.0.1:9090", "admin listener address (dashboard, metrics, purge API)")
	load := fs.Duration("load", 0, "drive a bounded load for this long at the origin, then as long through moat, print a before/after table and exit")
	conc := fs.Int("concurrency", 32, "load generator workers (with --load)")
	minLat := fs.Duration("latency-min", 20*time.Millisecond, "demo origin's simulated database time, lower bound")
	maxLat := fs.Duration("latency-max", 50*time.Millisecond, "demo origin's simulated database time, upper bound")
	printCfg := fs.Bool("print-config", false, "print the embedded config and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *printCfg {
		_, _ = stdout.Write(demoConfig)
		return 0
	}
	if *load < 0 || *load > time.Hour {
		fmt.Fprintln(stderr, "moat demo: --load must be between 0 and 1h")
		return 2
	}
	log := newLogger(stderr, slog.LevelWarn, "text")

	// The demo origin, on a free loopback port.
	origin := demo.NewOrigin(demo.Options{MinLatency: *minLat, MaxLatency: *maxLat, NoLatency: *maxLat == 0})
	oln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(stderr, "moat demo:", err)
		return 1
	}
	osrv := &http.Server{Handler: origin, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = osrv.Serve(oln) }()
	defer osrv.Close()
	originURL := "http://" + oln.Addr().String()

	cfg, err := config.Parse(demoConfig, "demo.yaml (embedded)")
	if err != nil {
		fmt.Fprintln(stderr, "moat demo:", err)
		return 1
	}
	cfg.Origin.URL = originURL
	if *listen != "" {
		cfg.Listen = *listen
	}
	if *load > 0 && *listen == "" {
		cfg.Listen = "127.0.0.1:0" // a load run needs no well-known port
		*adminListen = "127.0.0.1:0"
	}
	token := randomToken()
	cfg.Admin.Listen, cfg.Admin.Token = *adminListen, token
	srv, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintln(stderr, "moat demo:", err)
		return 1
	}
	proxyAddr, adminAddr, err := srv.Start()
	if err != nil {
		fmt.Fprintln(stderr, "moat demo:", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintln(stderr, "moat demo: the port is taken; try: go run ./cmd/moat demo --listen 127.0.0.1:0 --admin 127.0.0.1:0")
		}
		return 1
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	base := "http://" + proxyAddr

	if *load > 0 {
		return runDemoLoad(stdout, stderr, origin, originURL, base, *load, *conc)
	}

	fmt.Fprintf(stdout, `moat demo
  demo origin (a catalog API, %v-%v per request):  %s
  moat gateway in front of it:                     %s
  admin: dashboard at http://%s/ (log in with the token %s)

Try it:
  curl -si %s/api/products/42 | grep -iE '^(x-cache|cache-status|age)'   # MISS: fetched from the origin
  curl -si %s/api/products/42 | grep -iE '^(x-cache|cache-status|age)'   # HIT: from memory, with Age
  curl -s -o /dev/null -w '%%{time_total}s\n' %s/api/products/42          # compare with the origin: %s/api/products/42
  curl -s -H 'Authorization: Bearer %s' http://%s/api/stats
  curl -s -X PUT %s/api/products/42 ; curl -si %s/api/products/42 | grep -i x-cache   # a write invalidates: MISS

Press Ctrl-C to stop.
`, *minLat, *maxLat, originURL, base, adminAddr, token, base, base, base, originURL, token, adminAddr, base, base)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case <-ctx.Done():
	case err := <-srv.Err():
		fmt.Fprintln(stderr, "moat demo:", err)
		return 1
	}
	fmt.Fprintln(stdout, "\nmoat demo: stopped")
	return 0
}

// runDemoLoad drives the same Zipf mix of product URLs at the origin and then
// through moat, and prints the before/after table.
func runDemoLoad(stdout, stderr io.Writer, origin *demo.Origin, originURL, base string, d time.Duration, conc int) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	paths := loadgen.ZipfPaths("/api/products/%d", 1000)
	opts := loadgen.Options{Paths: paths, Duration: d, Concurrency: conc, Seed: 1}

	fmt.Fprintf(stdout, "moat demo --load %v: %d workers, Zipf mix over %d product URLs\n", d, conc, len(paths))
	fmt.Fprintf(stdout, "  1/2 straight at the demo origin (%s) ...\n", originURL)
	before := origin.Requests()
	opts.BaseURL = originURL
	direct, err := loadgen.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "moat demo:", err)
		return 1
	}
	directOrigin := origin.Requests() - before

	fmt.Fprintf(stdout, "  2/2 through moat (%s) ...\n\n", base)
	before = origin.Requests()
	opts.BaseURL = base
	via, err := loadgen.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, "moat demo:", err)
		return 1
	}
	viaOrigin := origin.Requests() - before

	loadgen.Table(stdout, []loadgen.Row{
		{Name: "origin direct", Result: direct, OriginRequests: directOrigin},
		{Name: "through moat", Result: via, OriginRequests: viaOrigin, ShowHitRatio: true},
	})
	if direct.RPS > 0 {
		fmt.Fprintf(stdout, "\nmoat served %.1fx the requests/s with %d of %d requests reaching the origin.\n",
			via.RPS/direct.RPS, viaOrigin, via.Requests)
	}
	return 0
}

func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
