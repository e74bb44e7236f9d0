package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/moatproxy/moat/internal/server"
)

// cmdReload asks a running moat to read its config file again (as SIGHUP
// does) through the admin API.
func cmdReload(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "moat reload:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := c.do(ctx, http.MethodPost, "/api/reload", nil)
	if err != nil {
		fmt.Fprintln(stderr, "moat reload: refused, the running configuration goes on serving:", err)
		return 1
	}
	var res server.ReloadResult
	if err := json.Unmarshal(body, &res); err != nil {
		fmt.Fprintf(stderr, "moat reload: unexpected answer: %s\n", body)
		return 1
	}
	fmt.Fprintf(stdout, "reloaded: %d routes\n", res.Routes)
	for _, w := range res.Warnings {
		fmt.Fprintln(stdout, "warning:", w)
	}
	if len(res.RestartNeeded) > 0 {
		fmt.Fprintf(stdout, "changed but applied only at a restart: %s\n", strings.Join(res.RestartNeeded, ", "))
	}
	return 0
}
