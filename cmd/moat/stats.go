package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/metrics"
)

// adminFlags are the flags of the commands that read a running moat's
// admin API (stats, inspect, top), with the defaults `moat purge` uses.
type adminFlags struct {
	base  string
	token string
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.base, "admin", "http://127.0.0.1:9090", "admin listener base URL")
	fs.StringVar(&a.token, "token", "", "admin bearer token (default: $MOAT_ADMIN_TOKEN)")
}

// client returns the admin API client, or an error saying how to give
// the token when there is none.
func (a *adminFlags) client() (*adminClient, error) {
	token := a.token
	if token == "" {
		token = os.Getenv("MOAT_ADMIN_TOKEN")
	}
	if token == "" {
		return nil, fmt.Errorf("no token: pass --token or set MOAT_ADMIN_TOKEN")
	}
	return &adminClient{base: strings.TrimRight(a.base, "/"), token: token, http: &http.Client{Timeout: 10 * time.Second}}, nil
}

// adminClient reads JSON from a running moat's admin API.
type adminClient struct {
	base, token string
	http        *http.Client
}

// get fetches path?query and returns the body of a 200 answer; any other
// status is an error carrying the answer's text.
func (c *adminClient) get(ctx context.Context, path string, query url.Values) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, query)
}

// do sends method path?query (no body) and returns the body of a 200
// answer; any other status is an error carrying the answer's text (the
// "error" of a JSON answer).
func (c *adminClient) do(ctx context.Context, method, path string, query url.Values) ([]byte, error) {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s:\n%s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// getJSON fetches path?query and decodes it into v.
func (c *adminClient) getJSON(ctx context.Context, path string, query url.Values, v any) error {
	body, err := c.get(ctx, path, query)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s: unexpected answer: %w", path, err)
	}
	return nil
}

// adminStats is the shape of GET /api/stats (internal/server.Server.Stats).
type adminStats struct {
	UptimeSeconds float64              `json:"uptime_seconds"`
	Totals        metrics.RouteStats   `json:"totals"`
	Routes        []metrics.RouteStats `json:"routes"`
	Cache         struct {
		Entries     int64 `json:"entries"`
		Bytes       int64 `json:"bytes"`
		MaxBytes    int64 `json:"max_bytes"`
		Evictions   int64 `json:"evictions"`
		Expirations int64 `json:"expirations"`
	} `json:"cache"`
	Refreshes     map[string]int64 `json:"refreshes"`
	Purges        int64            `json:"purges"`
	Invalidations int64            `json:"invalidations"`
	Collapsed     int64            `json:"collapsed"`
	Stored        int64            `json:"stored"`
	Shed          int64            `json:"shed"`
	OriginErrors  int64            `json:"origin_errors"`
	// Fleet is present only with cache.redis (L2, bus, lease).
	Fleet *fleetStats `json:"fleet"`
}

// fleetStats is the "fleet" object of /api/stats.
type fleetStats struct {
	RedisConnected bool `json:"redis_connected"`
	L2             *struct {
		Hits        int64 `json:"hits"`
		Misses      int64 `json:"misses"`
		Refused     int64 `json:"refused"`
		Errors      int64 `json:"errors"`
		Written     int64 `json:"written"`
		Dropped     int64 `json:"dropped"`
		PurgeErrors int64 `json:"purge_errors"`
		BreakerOpen bool  `json:"breaker_open"`
	} `json:"l2"`
	Lease *struct {
		Acquired  int64 `json:"acquired"`
		Contended int64 `json:"contended"`
		Waited    int64 `json:"waited"`
		Errors    int64 `json:"errors"`
	} `json:"lease"`
	Bus *struct {
		Published      int64    `json:"published"`
		Delivered      int64    `json:"delivered"`
		Dropped        int64    `json:"dropped"`
		Gaps           int64    `json:"gaps"`
		Errors         int64    `json:"errors"`
		Lost           int64    `json:"lost"`
		ReadAgeSeconds *float64 `json:"read_age_seconds"`
	} `json:"bus"`
	Nodes []struct {
		ID               string  `json:"id"`
		LastHeardSeconds float64 `json:"last_heard_seconds"`
	} `json:"nodes"`
}

func cmdStats(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	raw := fs.Bool("json", false, "print the /api/stats JSON as the server sent it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "moat stats:", err)
		return 2
	}
	body, err := c.get(context.Background(), "/api/stats", nil)
	if err != nil {
		fmt.Fprintln(stderr, "moat stats:", err)
		return 1
	}
	if *raw {
		stdout.Write(body)
		return 0
	}
	var s adminStats
	if err := json.Unmarshal(body, &s); err != nil {
		fmt.Fprintf(stderr, "moat stats: unexpected answer: %v\n", err)
		return 1
	}
	printStats(stdout, &s)
	return 0
}

// printStats writes s as tables: totals and routes, the L1 cache, events,
// and the fleet when there is one.
func printStats(w io.Writer, s *adminStats) {
	fmt.Fprintf(w, "uptime %s\n\n", fmtDuration(s.UptimeSeconds))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	w0 := len("route")
	for _, r := range s.Routes {
		w0 = max(w0, len(r.Route))
	}
	fmt.Fprintf(tw, "%-*s\trequests\thits\tmisses\tstale\trevalidated\tbypass\thit ratio\torigin\toffload\tp50 ms\tp99 ms\t\n", w0, "route")
	row := func(r metrics.RouteStats) {
		fmt.Fprintf(tw, "%-*s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\t%.2f\t%.2f\t\n", w0, r.Route, r.Requests, r.Hits, r.Misses,
			r.Stale, r.Revalidated, r.Bypass, pct(r.HitRatio), r.OriginRequests, pct(r.OriginOffload), r.P50ms, r.P99ms)
	}
	row(s.Totals)
	for _, r := range s.Routes {
		row(r)
	}
	tw.Flush()
	fmt.Fprintln(w, "(all since start; hit ratio = (hits + stale + revalidated) / requests; offload = 1 - origin / requests)")

	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cache\t%d entries, %s of %s, %d evictions, %d expirations\n", s.Cache.Entries,
		fmtBytes(s.Cache.Bytes), fmtBytes(s.Cache.MaxBytes), s.Cache.Evictions, s.Cache.Expirations)
	fmt.Fprintf(tw, "events\tstored %d, collapsed %d, purges %d, invalidations %d, shed %d, origin errors %d\n",
		s.Stored, s.Collapsed, s.Purges, s.Invalidations, s.Shed, s.OriginErrors)
	causes := make([]string, 0, len(s.Refreshes))
	for name := range s.Refreshes {
		causes = append(causes, name)
	}
	sort.Strings(causes)
	var refreshes []string
	for _, name := range causes {
		refreshes = append(refreshes, fmt.Sprintf("%s %d", name, s.Refreshes[name]))
	}
	fmt.Fprintf(tw, "refreshes\t%s\n", strings.Join(refreshes, ", "))
	fmt.Fprintf(tw, "fleet\t%s\n", fleetLine(s.Fleet, nil, 0))
	tw.Flush()
}

// fleetLine sums up the fleet figures; given the previous sample and the
// seconds between them, L2 hits and bus deliveries also as rates.
func fleetLine(f, prev *fleetStats, secs float64) string {
	if f == nil {
		return "none (no cache.redis: L1 only)"
	}
	parts := []string{"redis connected"}
	if !f.RedisConnected {
		parts[0] = "redis DISCONNECTED"
	}
	rate := func(now int64, before *int64) string {
		if before == nil || secs <= 0 {
			return ""
		}
		return fmt.Sprintf(" (%.1f/s)", float64(now-*before)/secs)
	}
	if l := f.L2; l != nil {
		var before *int64
		if prev != nil && prev.L2 != nil {
			before = &prev.L2.Hits
		}
		breaker := "closed"
		if l.BreakerOpen {
			breaker = "OPEN"
		}
		parts = append(parts, fmt.Sprintf("L2 hits %d%s misses %d errors %d written %d dropped %d breaker %s",
			l.Hits, rate(l.Hits, before), l.Misses, l.Errors, l.Written, l.Dropped, breaker))
	}
	if b := f.Bus; b != nil {
		var before *int64
		if prev != nil && prev.Bus != nil {
			before = &prev.Bus.Delivered
		}
		s := fmt.Sprintf("bus delivered %d%s published %d gaps %d lost %d errors %d",
			b.Delivered, rate(b.Delivered, before), b.Published, b.Gaps, b.Lost, b.Errors)
		if b.ReadAgeSeconds != nil {
			s += fmt.Sprintf(" read %.1fs ago", *b.ReadAgeSeconds)
		}
		parts = append(parts, s)
	}
	if l := f.Lease; l != nil {
		parts = append(parts, fmt.Sprintf("lease acquired %d waited %d errors %d", l.Acquired, l.Waited, l.Errors))
	}
	parts = append(parts, fmt.Sprintf("nodes heard %d", len(f.Nodes)))
	return strings.Join(parts, "; ")
}

func cmdInspect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	describe(fs) // URL absolute, as clients send it
	var af adminFlags
	af.register(fs)
	raw := fs.Bool("json", false, "print the /api/inspect JSON as the server sent it")
	method := fs.String("method", "", "request method (default GET)")
	var headers listFlag
	fs.Var(&headers, "header", `request header, "Name: value" (repeatable), e.g. Accept-Language: fr`)
	// The URL may come before or after the flags.
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var target string
	if fs.NArg() > 0 {
		target = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return 2
		}
	}
	if target == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "moat inspect:", err)
		return 2
	}
	q := url.Values{"url": {target}}
	if *method != "" {
		q.Set("method", *method)
	}
	for _, h := range headers {
		q.Add("header", h)
	}
	body, err := c.get(context.Background(), "/api/inspect", q)
	if err != nil {
		fmt.Fprintln(stderr, "moat inspect:", err)
		return 1
	}
	if *raw {
		stdout.Write(body)
		return 0
	}
	var in gateway.Inspection
	if err := json.Unmarshal(body, &in); err != nil {
		fmt.Fprintf(stderr, "moat inspect: unexpected answer: %v\n", err)
		return 1
	}
	printInspection(stdout, &in)
	return 0
}

// printInspection writes one "field  value" line per figure /api/inspect
// gave, leaving out the empty ones.
func printInspection(w io.Writer, in *gateway.Inspection) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(name, value string) {
		if value != "" {
			fmt.Fprintf(tw, "%s\t%s\n", name, value)
		}
	}
	line("request", in.Method+" "+in.URL)
	line("normalized", in.Normalized)
	line("route", cmp.Or(in.Route, "(no route)"))
	// A key is the request's URL, then its namespace (versions and the
	// route's policy fingerprint), scope and variant, " | " apart.
	base, rest, _ := strings.Cut(in.Key, " | ")
	line("key", base)
	line("key suffix", rest)
	scope := in.Scope
	if in.Tier != "" {
		scope += " (tier " + in.Tier + ")"
	}
	if in.User != "" {
		scope += " (user " + in.User + ")"
	}
	line("scope", scope)
	if len(in.Vary) > 0 {
		names := make([]string, 0, len(in.Vary))
		for n := range in.Vary {
			names = append(names, n)
		}
		sort.Strings(names)
		var vs []string
		for _, n := range names {
			vs = append(vs, fmt.Sprintf("%s=%q", n, in.Vary[n]))
		}
		line("variants by", strings.Join(vs, ", "))
	}
	line("bypass", in.BypassReason)
	line("stored", yesNo(in.Stored))
	if in.Stored {
		line("fresh", yesNo(in.Fresh))
		line("status", fmt.Sprint(in.Status))
		line("age", fmt.Sprintf("%.1fs", in.AgeSeconds))
		line("ttl", fmt.Sprintf("%.1fs", in.TTLSeconds))
		if in.SWRSeconds > 0 {
			line("stale-while-revalidate", fmt.Sprintf("%.0fs", in.SWRSeconds))
		}
		if in.SIESeconds > 0 {
			line("stale-if-error", fmt.Sprintf("%.0fs", in.SIESeconds))
		}
		line("size", fmtBytes(int64(in.Size)))
		line("tags", strings.Join(in.Tags, " "))
		line("etag", in.ETag)
		line("last-modified", in.LastModified)
	}
	line("not stored because", in.NotStored)
	line("verdict", in.Verdict)
	tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// pct formats a ratio in [0, 1] as a percentage.
func pct(r float64) string { return fmt.Sprintf("%.1f%%", 100*r) }

func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func fmtDuration(secs float64) string {
	return time.Duration(secs * float64(time.Second)).Round(time.Second).String()
}
