package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/moatproxy/moat/gateway"
)

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func cmdPurge(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	admin := fs.String("admin", "http://127.0.0.1:9090", "admin listener base URL")
	token := fs.String("token", "", "admin bearer token (default: $MOAT_ADMIN_TOKEN)")
	var p gateway.Purge
	fs.Var((*listFlag)(&p.Tags), "tag", "purge entries carrying this tag (repeatable)")
	fs.Var((*listFlag)(&p.URLs), "url", "purge this absolute URL (repeatable)")
	fs.Var((*listFlag)(&p.Prefixes), "prefix", "purge paths starting with this prefix (repeatable)")
	fs.Var((*listFlag)(&p.Routes), "route", `bump this route's version, e.g. "GET /api/products/{id}" (repeatable)`)
	fs.BoolVar(&p.All, "all", false, "purge everything")
	fs.BoolVar(&p.Soft, "soft", false, "mark stale (served under stale-while-revalidate and refreshed) instead of removing")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *token == "" {
		*token = os.Getenv("MOAT_ADMIN_TOKEN")
	}
	if *token == "" {
		fmt.Fprintln(stderr, "moat purge: no token: pass --token or set MOAT_ADMIN_TOKEN")
		return 2
	}
	if p.Empty() {
		fmt.Fprintln(stderr, "moat purge: say what to purge: --tag, --url, --prefix, --route or --all")
		return 2
	}
	body, _ := json.Marshal(p)
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(*admin, "/")+"/purge", bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(stderr, "moat purge:", err)
		return 2
	}
	req.Header.Set("Authorization", "Bearer "+*token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "moat purge:", err)
		return 1
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "moat purge: %s: %s\n", resp.Status, bytes.TrimSpace(out))
		return 1
	}
	var res gateway.PurgeResult
	if err := json.Unmarshal(out, &res); err != nil {
		fmt.Fprintf(stderr, "moat purge: unexpected answer: %s\n", out)
		return 1
	}
	kind := "removed"
	if res.Soft {
		kind = "marked stale"
	}
	fmt.Fprintf(stdout, "purged: %d entries %s", res.Affected, kind)
	for route, v := range res.Versions {
		fmt.Fprintf(stdout, "; route %q now at version %d", route, v)
	}
	fmt.Fprintln(stdout)
	return 0
}
