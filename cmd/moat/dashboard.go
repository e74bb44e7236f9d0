package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// cmdDashboard asks a running moat for a one-time login link to its
// dashboard and opens it in the browser. The link carries a code, not the
// admin token, in its fragment: the page trades the code for a session
// token and removes it from the address bar, so the admin token is in no
// URL the browser keeps.
func cmdDashboard(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dashboard", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	noOpen := fs.Bool("no-open", false, "print the link only; do not start a browser")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "moat dashboard: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "moat dashboard:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := c.do(ctx, http.MethodPost, "/api/login-link", nil)
	if err != nil {
		fmt.Fprintln(stderr, "moat dashboard:", err)
		return 1
	}
	var link struct {
		URL     string `json:"url"`
		Expires int    `json:"expires_in_seconds"`
	}
	if err := json.Unmarshal(body, &link); err != nil || !strings.HasPrefix(link.URL, "/") {
		fmt.Fprintf(stderr, "moat dashboard: unexpected answer (is this moat older than the dashboard command?): %s\n", body)
		return 1
	}
	url := c.base + link.URL
	fmt.Fprintf(stdout, "Dashboard: %s  (one-time link, valid %ds)\n", url, link.Expires)
	if *noOpen {
		return 0
	}
	opener := map[string]string{"linux": "xdg-open", "darwin": "open"}[runtime.GOOS]
	path, err := exec.LookPath(opener)
	if opener == "" || err != nil {
		fmt.Fprintf(stderr, "moat dashboard: found no %s to start a browser; open the link above yourself\n", cmp.Or(opener, "browser opener for "+runtime.GOOS))
		return 0
	}
	cmd := exec.Command(path, url)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "moat dashboard: %s: %v; open the link above yourself\n", opener, err)
		return 0
	}
	// The opener hands the URL to the browser and exits; moat does not wait
	// for it (some openers wait for the browser to close).
	_ = cmd.Process.Release()
	fmt.Fprintf(stdout, "Opening it with %s.\n", opener)
	return 0
}
