// Command moat is a caching API gateway.
//
//	moat serve --config moat.yaml     run the caching reverse proxy
//	moat demo [--load 10s]            run a demo origin with moat in front
//	moat validate --config moat.yaml  check a config file
//	moat purge --tag product:42       purge through the admin API
//	moat reload --token T             re-read the config of a running moat
//	moat warm --from hotkeys          warm the cache through a running gateway
//	moat stats --token T              print a running moat's /api/stats
//	moat inspect --token T URL        what the cache holds and does for URL
//	moat top --token T                live view of a running moat
//	moat dashboard --token T          open the admin dashboard, signed in
//	moat version                      print the version
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

const usage = `moat: a caching API gateway

Usage:
  moat serve --config FILE      run the caching reverse proxy
  moat demo [--load 10s]        run a demo API with moat in front of it (no files needed)
  moat validate --config FILE   check a config file; exit 1 naming file:line and key on error (--strict: on warnings too)
  moat purge --token T --tag X  purge through a running moat's admin API (also --url, --prefix, --route, --all, --soft)
  moat reload --token T         re-read a running moat's config file, keeping its cache (as SIGHUP does)
  moat warm --config FILE --from urls.txt|sitemap.xml|hotkeys   fill the cache through a running gateway
  moat stats --token T          a running moat's figures from its admin API (--json: raw)
  moat inspect --token T URL    what a running moat stores and would do for URL (--json: raw)
  moat top --token T            live view: req/s, hit ratio, offload, latency, routes, hottest keys (--once: one frame)
  moat dashboard --token T      open the admin dashboard in the browser, signed in by a one-time link (--no-open: print it)
  moat version                  print the version and what built it
  moat completion bash|zsh      print a shell completion script (source <(moat completion bash))

Run "moat COMMAND -h" for a command's flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "reload":
		return cmdReload(args[1:], stdout, stderr)
	case "purge":
		return cmdPurge(args[1:], stdout, stderr)
	case "warm":
		return cmdWarm(args[1:], stdout, stderr)
	case "stats":
		return cmdStats(args[1:], stdout, stderr)
	case "inspect":
		return cmdInspect(args[1:], stdout, stderr)
	case "top":
		return cmdTop(args[1:], stdout, stderr)
	case "dashboard":
		return cmdDashboard(args[1:], stdout, stderr)
	case "completion":
		return cmdCompletion(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "moat", versionString())
		fmt.Fprintln(stdout, buildInfo())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "moat: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// buildInfo says what built this binary: the Go version, the commit and
// its time when the build recorded them (go build in a git checkout;
// a release build, -trimpath -buildvcs=false, records the Go version only).
func buildInfo() string {
	parts := []string{runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				parts = append(parts, "commit "+s.Value)
			case "vcs.time":
				parts = append(parts, "built from a commit of "+s.Value)
			case "vcs.modified":
				if s.Value == "true" {
					parts = append(parts, "with local changes")
				}
			}
		}
	}
	return strings.Join(parts, ", ")
}

// newLogger returns a slog logger writing to w at level in format.
func newLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
