package browsertest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/moatproxy/moat/internal/demo"
)

// screenshotRoutes add the rest of the demo's routes to the test config,
// so that the routes table has a row of each kind.
const screenshotRoutes = `  - match: GET /api/products
    ttl: 30s
  - match: GET /api/books/{isbn}
    ttl: 10m
    tags: [books]
  - match: GET /api/catalog
    ttl: 1h
    override_origin: true
  - match: GET /api/cart
    cache: false
cache: {memory: 4MiB, max_object_size: 256KiB}
`

// TestDashboardScreenshot writes docs/dashboard.png: the dashboard after a
// few minutes of generated traffic, with a purge halfway. It is a tool, not
// a check, so it runs only when asked:
//
//	MOAT_DASHBOARD_SCREENSHOT=$PWD/docs/dashboard.png go test -run Screenshot -v ./internal/browsertest/
//
// MOAT_DASHBOARD_SCREENSHOT_SECONDS sets how long the traffic runs before
// the picture (default 150; the charts show the last 300).
func TestDashboardScreenshot(t *testing.T) {
	out := os.Getenv("MOAT_DASHBOARD_SCREENSHOT")
	if out == "" {
		t.Skip("set MOAT_DASHBOARD_SCREENSHOT=/abs/path/dashboard.png to write the screenshot")
	}
	load := 150 * time.Second
	if s := os.Getenv("MOAT_DASHBOARD_SCREENSHOT_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 5 {
			t.Fatalf("MOAT_DASHBOARD_SCREENSHOT_SECONDS=%q: want a whole number of seconds, at least 5", s)
		}
		load = time.Duration(n) * time.Second
	}
	chromiumPath(t)
	// Real origin latency (20-50 ms a request), so that misses show in p99.
	m := startMoat(t, demo.Options{Seed: 1}, screenshotRoutes)
	m.checkServesDashboard(t)
	ctx, cancel := context.WithTimeout(context.Background(), load+90*time.Second)
	t.Cleanup(cancel)
	page := newBrowser(t, ctx, 1280, 900)
	do(t, page,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(m.admin+"/"),
		chromedp.WaitVisible(chromedp.ID("login-token")),
		chromedp.SendKeys(chromedp.ID("login-token"), m.token),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("dashboard")),
	)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sent, failed atomic.Int64
	start := time.Now()
	for w := range 8 {
		wg.Go(func() { traffic(m, uint64(w), start, stop, &sent, &failed) })
	}
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})

	time.Sleep(load / 2)
	n, err := m.purge(`{"tags": ["products"]}`)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("purged tag products halfway: %d entries", n)
	time.Sleep(load - load/2)

	// Fill the two forms, as an operator would, so the picture shows them
	// answered.
	do(t, page,
		chromedp.SetValue(chromedp.ID("inspect-url"), m.proxy+"/api/products/7"),
		chromedp.Click(chromedp.ID("inspect-submit")),
		chromedp.SetValue(chromedp.ID("purge-kind"), "prefix"),
		chromedp.SendKeys(chromedp.ID("purge-value"), "/api/products?page="),
		chromedp.Click(chromedp.ID("purge-submit")),
	)
	waitFor[bool](t, page, "the inspect and purge results",
		`!!document.querySelector('#inspect-result table') && document.querySelector('#purge-result').dataset.affected !== undefined`)
	time.Sleep(1500 * time.Millisecond) // one more poll after the purge
	png, err := chromedp.Run(page, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes) after %d requests (%d failed)", out, len(png), sent.Load(), failed.Load())
}

// traffic sends requests through the gateway until stop closes, at a rate
// that swings between about 40 and 200 requests a second (over all eight
// workers) once a minute. Product ids follow a Zipf law, as real traffic
// does, so the hit ratio climbs as the hot set fills the cache.
func traffic(m *moat, seed uint64, start time.Time, stop <-chan struct{}, sent, failed *atomic.Int64) {
	rng := rand.New(rand.NewPCG(seed, 42))
	products := rand.NewZipf(rng, 1.1, 2, 999) // the demo catalog has ids 1..1000
	isbns := []string{"9780131103627", "9780262033848", "9780201633610", "9781593279509", "9780134190440", "0131103628"}
	for {
		perWorker := (120 + 80*math.Sin(2*math.Pi*time.Since(start).Seconds()/60)) / 8
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(float64(time.Second) / perWorker)):
		}
		var path string
		switch p := rng.IntN(100); {
		case p < 70:
			path = fmt.Sprintf("/api/products/%d", products.Uint64()+1)
		case p < 80:
			path = fmt.Sprintf("/api/products?page=%d", rng.IntN(5)+1)
		case p < 90:
			path = "/api/books/" + isbns[rng.IntN(len(isbns))]
		case p < 95:
			path = "/api/catalog"
		case p < 98:
			path = "/api/cart"
		default:
			path = "/api/time"
		}
		sent.Add(1)
		if _, err := m.get(path); err != nil {
			failed.Add(1)
		}
	}
}
