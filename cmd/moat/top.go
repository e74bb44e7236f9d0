package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/metrics"
)

// moat top polls /api/stats and /api/keys every interval and redraws one
// frame in place with plain ANSI (cursor home, clear to end of line and of
// screen), like varnishstat. Rates come from the difference between two
// samples; the latency percentiles are /api/stats's, which are since start.
//
// The terminal stays in its normal (cooked) mode: golang.org/x/term is not
// a dependency, so q must be followed by Enter; Ctrl-C (SIGINT) quits too.

const (
	ansiHome       = "\x1b[H"
	ansiClear      = "\x1b[2J"
	ansiClearLine  = "\x1b[K"
	ansiClearBelow = "\x1b[J"
	ansiHideCursor = "\x1b[?25l"
	ansiShowCursor = "\x1b[?25h"
)

// topSample is one poll of the admin API.
type topSample struct {
	at    time.Time
	stats adminStats
	keys  []gateway.KeyInfo
}

func cmdTop(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	describe(fs)
	fs.SetOutput(stderr)
	var af adminFlags
	af.register(fs)
	interval := fs.Duration("interval", time.Second, "time between polls (rates are over this interval)")
	once := fs.Bool("once", false, "print one frame, from two samples --interval apart, without terminal control codes, and exit")
	nkeys := fs.Int("keys", 10, "hottest keys shown (0: none)")
	nroutes := fs.Int("routes", 15, "routes shown at most (busiest first)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *interval <= 0 || *nkeys < 0 || *nkeys > 1000 || *nroutes < 0 {
		fmt.Fprintln(stderr, "moat top: --interval must be positive, --keys from 0 to 1000, --routes not negative")
		return 2
	}
	c, err := af.client()
	if err != nil {
		fmt.Fprintln(stderr, "moat top:", err)
		return 2
	}
	t := &top{client: c, interval: *interval, keys: *nkeys, routes: *nroutes}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *once {
		if err := t.once(ctx, stdout); err != nil {
			fmt.Fprintln(stderr, "moat top:", err)
			return 1
		}
		return 0
	}
	ctx, quit := context.WithCancel(ctx)
	defer quit()
	// The reader blocks on the terminal until the process exits: there is
	// no way to interrupt a read of os.Stdin, and nothing else reads it.
	go quitOnQ(os.Stdin, quit)
	if err := t.live(ctx, stdout); err != nil {
		fmt.Fprintln(stderr, "moat top:", err)
		return 1
	}
	return 0
}

// quitOnQ calls quit when a line reading q arrives on r.
func quitOnQ(r io.Reader, quit func()) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.EqualFold(strings.TrimSpace(sc.Text()), "q") {
			quit()
			return
		}
	}
}

// top is the state of one `moat top`.
type top struct {
	client   *adminClient
	interval time.Duration
	keys     int // hottest keys to show
	routes   int // routes to show
}

// sample polls /api/stats, and /api/keys when keys are shown.
func (t *top) sample(ctx context.Context) (topSample, error) {
	s := topSample{at: time.Now()}
	if err := t.client.getJSON(ctx, "/api/stats", nil, &s.stats); err != nil {
		return s, err
	}
	if t.keys > 0 {
		var k struct {
			Keys []gateway.KeyInfo `json:"keys"`
		}
		if err := t.client.getJSON(ctx, "/api/keys", url.Values{"limit": {strconv.Itoa(t.keys)}}, &k); err != nil {
			return s, err
		}
		s.keys = k.Keys
	}
	return s, nil
}

// once writes one plain frame from two samples an interval apart.
func (t *top) once(ctx context.Context, w io.Writer) error {
	prev, err := t.sample(ctx)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(t.interval):
	}
	cur, err := t.sample(ctx)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, t.frame(&prev, &cur, nil))
	return err
}

// live redraws a frame every interval until ctx ends. A failed poll is
// shown on the frame and retried at the next tick.
func (t *top) live(ctx context.Context, w io.Writer) error {
	if _, err := io.WriteString(w, ansiHideCursor+ansiHome+ansiClear); err != nil {
		return err
	}
	defer io.WriteString(w, ansiShowCursor+"\n")
	var prev *topSample
	tick := time.NewTicker(t.interval)
	defer tick.Stop()
	for {
		cur, err := t.sample(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var frame string
		if err != nil {
			frame = t.frame(prev, prev, err)
		} else {
			frame = t.frame(prev, &cur, nil)
			prev = &cur
		}
		frame = strings.ReplaceAll(frame, "\n", ansiClearLine+"\n")
		if _, err := io.WriteString(w, ansiHome+frame+ansiClearBelow); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// frame renders cur against prev (rates over the time between them). prev
// may be nil (first poll: no rates yet), cur too when pollErr says why.
func (t *top) frame(prev, cur *topSample, pollErr error) string {
	var b strings.Builder
	now := time.Now().UTC()
	if cur != nil {
		now = cur.at.UTC()
	}
	up := "?"
	if cur != nil {
		up = fmtDuration(cur.stats.UptimeSeconds)
	}
	fmt.Fprintf(&b, "moat top  %s  up %s  every %s  %s UTC  (q Enter or Ctrl-C quits)\n", t.client.base, up, t.interval, now.Format("15:04:05"))
	if pollErr != nil {
		fmt.Fprintf(&b, "admin API: %v (retrying every %s)\n", pollErr, t.interval)
	}
	b.WriteString("\n")
	if cur == nil {
		return b.String()
	}
	secs := 0.0
	if prev != nil && prev != cur && cur.stats.Totals.Requests >= prev.stats.Totals.Requests {
		secs = cur.at.Sub(prev.at).Seconds()
	}
	tot, ptot := cur.stats.Totals, metrics.RouteStats{}
	if secs > 0 {
		ptot = prev.stats.Totals
	}
	d := delta(tot, ptot)

	tw := tabwriter.NewWriter(&b, 0, 0, 3, ' ', tabwriter.AlignRight)
	window := "last -"
	if secs > 0 {
		window = fmt.Sprintf("last %.1fs", secs)
	}
	fmt.Fprintf(tw, "%-28s\t%s\tsince start\t\n", "", window)
	fmt.Fprintf(tw, "%-28s\t%s\t%d\t\n", "requests", perSec(d.Requests, secs), tot.Requests)
	fmt.Fprintf(tw, "%-28s\t%s\t%s\t\n", "hit ratio", ratioOver(d.Hits+d.Stale+d.Revalidated, d.Requests, secs), pct(tot.HitRatio))
	fmt.Fprintf(tw, "%-28s\t%s\t%s\t\n", "origin offload", offloadOver(d, secs), pct(tot.OriginOffload))
	fmt.Fprintf(tw, "%-28s\t%s\t%d\t\n", "origin requests", perSec(d.OriginRequests, secs), tot.OriginRequests)
	fmt.Fprintf(tw, "%-28s\t%s / %s\t%d / %d\t\n", "hits / misses", perSec(d.Hits, secs), perSec(d.Misses, secs), tot.Hits, tot.Misses)
	fmt.Fprintf(tw, "%-28s\t%s / %s / %s\t%d / %d / %d\t\n", "stale / revalidated / bypass", perSec(d.Stale, secs),
		perSec(d.Revalidated, secs), perSec(d.Bypass, secs), tot.Stale, tot.Revalidated, tot.Bypass)
	fmt.Fprintf(tw, "%-28s\t%s\t%.2f / %.2f ms\t\n", "latency p50 / p99", latencyOver(tot, ptot, secs), tot.P50ms, tot.P99ms)
	tw.Flush()
	b.WriteString("\n")

	s := &cur.stats
	var ps *adminStats
	if secs > 0 {
		ps = &prev.stats
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cache\t%d entries, %s of %s, %d evictions, %d expirations\n", s.Cache.Entries,
		fmtBytes(s.Cache.Bytes), fmtBytes(s.Cache.MaxBytes), s.Cache.Evictions, s.Cache.Expirations)
	var pStored, pCollapsed int64
	if ps != nil {
		pStored, pCollapsed = ps.Stored, ps.Collapsed
	}
	fmt.Fprintf(tw, "events\tstored %d (%s), collapsed %d (%s), purges %d, shed %d, origin errors %d\n",
		s.Stored, perSec(uint64(max(s.Stored-pStored, 0)), secs), s.Collapsed, perSec(uint64(max(s.Collapsed-pCollapsed, 0)), secs),
		s.Purges, s.Shed, s.OriginErrors)
	var pFleet *fleetStats
	if ps != nil {
		pFleet = ps.Fleet
	}
	fmt.Fprintf(tw, "fleet\t%s\n", fleetLine(s.Fleet, pFleet, secs))
	tw.Flush()

	b.WriteString("\n")
	prevRoutes := map[string]metrics.RouteStats{}
	if ps != nil {
		for _, r := range ps.Routes {
			prevRoutes[r.Route] = r
		}
	}
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	w0 := len("ROUTE")
	for _, r := range s.Routes {
		w0 = max(w0, len(r.Route))
	}
	fmt.Fprintf(tw, "%-*s\treq/s\thit%%\toffload%%\thit%% all\toffload%% all\tp50/p99 ms\tp50/p99 all\trequests\t\n", w0, "ROUTE")
	shown := 0
	for _, r := range s.Routes {
		if r.Requests == 0 || shown >= t.routes {
			continue
		}
		shown++
		rd := delta(r, prevRoutes[r.Route])
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2f / %.2f\t%d\t\n", w0, r.Route, perSec(rd.Requests, secs),
			ratioOver(rd.Hits+rd.Stale+rd.Revalidated, rd.Requests, secs), offloadOver(rd, secs),
			pct(r.HitRatio), pct(r.OriginOffload), latencyOver(r, prevRoutes[r.Route], secs), r.P50ms, r.P99ms, r.Requests)
	}
	tw.Flush()
	if shown == 0 {
		b.WriteString("(no traffic yet)\n")
	}

	if t.keys > 0 {
		b.WriteString("\n")
		tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "HOTTEST KEYS\treq/s\tstored\tage\tttl\tsize\troute")
		for _, k := range cur.keys {
			age, ttl, size := "-", "-", "-"
			if k.Stored && len(k.Vary) == 0 {
				age, ttl, size = fmt.Sprintf("%.0fs", k.AgeSeconds), fmt.Sprintf("%.0fs", k.TTLSeconds), fmtBytes(int64(k.Size))
			} else if k.Stored {
				size = "varies on " + strings.Join(k.Vary, ",")
			}
			fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%s\t%s\t%s\n", clip(k.URL, 64), k.Rate, yesNo(k.Stored), age, ttl, size, k.Route)
		}
		tw.Flush()
		if len(cur.keys) == 0 {
			b.WriteString("(no keys tracked yet)\n")
		}
	}
	return b.String()
}

// delta is cur less prev, counter by counter (zero where a counter went
// back, after a restart).
func delta(cur, prev metrics.RouteStats) metrics.RouteStats {
	sub := func(a, b uint64) uint64 {
		if a < b {
			return 0
		}
		return a - b
	}
	return metrics.RouteStats{
		Requests: sub(cur.Requests, prev.Requests), Hits: sub(cur.Hits, prev.Hits), Misses: sub(cur.Misses, prev.Misses),
		Stale: sub(cur.Stale, prev.Stale), Revalidated: sub(cur.Revalidated, prev.Revalidated), Bypass: sub(cur.Bypass, prev.Bypass),
		OriginRequests: sub(cur.OriginRequests, prev.OriginRequests),
	}
}

// latencyOver is "p50 / p99 ms" of the requests answered between prev
// and cur (their latency buckets' difference), "-" without an interval or
// without requests in it.
func latencyOver(cur, prev metrics.RouteStats, secs float64) string {
	if secs <= 0 || len(cur.Latency) == 0 || len(prev.Latency) != len(cur.Latency) {
		return "-"
	}
	d := make([]uint64, len(cur.Latency))
	for i := range d {
		if cur.Latency[i] < prev.Latency[i] {
			return "-" // a restart in between
		}
		d[i] = cur.Latency[i] - prev.Latency[i]
	}
	if d[len(d)-1] == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f / %.2f ms", metrics.LatencyQuantile(d, 0.5)*1000, metrics.LatencyQuantile(d, 0.99)*1000)
}

// perSec is n over secs as a rate, "-" without an interval.
func perSec(n uint64, secs float64) string {
	if secs <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f/s", float64(n)/secs)
}

// ratioOver is part/whole as a percentage, "-" without an interval or
// without requests in it.
func ratioOver(part, whole uint64, secs float64) string {
	if secs <= 0 || whole == 0 {
		return "-"
	}
	return pct(float64(part) / float64(whole))
}

// offloadOver is 1 - origin requests / client requests over the interval.
func offloadOver(d metrics.RouteStats, secs float64) string {
	if secs <= 0 || d.Requests == 0 {
		return "-"
	}
	return pct(max(0, 1-float64(d.OriginRequests)/float64(d.Requests)))
}

// clip shortens s to n characters, keeping its end (the path says most).
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "…" + string(r[len(r)-n+1:])
}
