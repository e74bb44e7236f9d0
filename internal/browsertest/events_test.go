package browsertest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moatproxy/moat/internal/demo"
	"github.com/moatproxy/moat/internal/natstest"
)

// TestDashboardEventSources: with events.sources, the dashboard shows each
// source's health and counts: an event the application publishes is
// received and applied, one no rule maps is a dead letter.
func TestDashboardEventSources(t *testing.T) {
	chromiumPath(t)
	ns := natstest.Start(t, natstest.Options{})
	m := startMoat(t, demo.Options{NoLatency: true}, fmt.Sprintf(`events:
  sources:
    - name: catalog
      nats: {url: %q, subject: "catalog.>"}
      rules:
        - when: {type: product}
          tags: ["product:{id}"]
`, ns.URL()))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	page := newBrowser(t, ctx, 1280, 900)
	do(t, page,
		chromedp.Navigate(m.admin+"/"),
		chromedp.WaitVisible(chromedp.ID("login-token")),
		chromedp.SendKeys(chromedp.ID("login-token"), m.token),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("events")),
	)
	waitFor[bool](t, page, "the source shown connected",
		`document.querySelector('#events-table tbody').textContent.includes('connected')`)

	nc := ns.Client(t)
	nc.Publish("catalog.product", []byte(`{"type":"product","id":1}`))
	nc.Publish("catalog.product", []byte(`{"type":"review","id":7}`))
	nc.Flush()
	type row struct {
		Received string `json:"received"`
		Applied  string `json:"applied"`
		Dead     string `json:"dead"`
	}
	got := waitFor[row](t, page, "the events counted", `(() => {
		const c = [...document.querySelectorAll('#events-table tbody tr:first-child > *')].map((e) => e.textContent);
		return c[4] === '2' && {received: c[4], applied: c[5], dead: c[7]};
	})()`)
	if got.Applied != "1" || got.Dead != "1" {
		t.Errorf("row: received %s, applied %s, dead letters %s; want 2, 1, 1", got.Received, got.Applied, got.Dead)
	}
}
