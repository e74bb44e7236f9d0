package main

import (
	"flag"
	"fmt"
	"io"
)

// cmdValidate checks a config file as `moat serve` would. Errors and warnings go to stderr, one
// per line as FILE:LINE: KEY: MESSAGE (warnings with "warning: " before the message). It exits
// 1 on errors, and on warnings too with --strict; otherwise 0, printing "FILE: ok" to stdout.
func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	path := fs.String("config", "moat.yaml", "config file to check")
	strict := fs.Bool("strict", false, "fail (exit 1) on warnings too")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, ok := loadServeConfig(*path, stderr)
	if !ok {
		return 1
	}
	warnings := cfg.Warnings()
	for _, w := range warnings {
		fmt.Fprintln(stderr, w)
	}
	if *strict && len(warnings) > 0 {
		fmt.Fprintf(stderr, "%s: not ok: --strict fails on warnings\n", *path)
		return 1
	}
	if len(warnings) > 0 {
		fmt.Fprintf(stdout, "%s: ok (%d routes, %d warnings)\n", *path, len(cfg.Routes), len(warnings))
		return 0
	}
	fmt.Fprintf(stdout, "%s: ok (%d routes)\n", *path, len(cfg.Routes))
	return 0
}
