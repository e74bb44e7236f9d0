package browsertest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/moatproxy/moat/internal/demo"
)

// entriesJS reads the number the "Entries" panel shows.
const entriesJS = `parseInt(document.querySelector('#entries').textContent.replace(/\D/g, ''), 10)`

// TestDashboard signs in to the dashboard, watches the hit ratio move under
// traffic, purges a tag through the form and watches the entry count drop,
// then checks that a wrong token is refused.
func TestDashboard(t *testing.T) {
	chromiumPath(t) // skip before starting anything
	m := startMoat(t, demo.Options{NoLatency: true}, "")
	m.checkServesDashboard(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel) // after the browser's cleanup, which needs ctx to close it gracefully
	page := newBrowser(t, ctx, 1280, 900)

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow() // later steps build on this one
		}
	}

	step("sign_in", func(t *testing.T) {
		do(t, page,
			chromedp.Navigate(m.admin+"/"),
			chromedp.WaitVisible(chromedp.ID("login-token")),
			chromedp.SendKeys(chromedp.ID("login-token"), m.token),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.ID("dashboard")),
		)
		waitFor[int](t, page, "the first stats poll", `+document.body.dataset.polls`)
	})

	step("hit_ratio_moves_under_traffic", func(t *testing.T) {
		before := eval[string](t, page, `document.querySelector('#hit-ratio').textContent`)
		for i := range 20 {
			if _, err := m.get(fmt.Sprintf("/api/products/%d", i%5+1)); err != nil {
				t.Fatal(err)
			}
		}
		got := waitFor[string](t, page, "the hit ratio to change from "+before, `(() => {
			const s = document.querySelector('#hit-ratio').textContent;
			return s !== `+js(before)+` && parseFloat(s) > 0 && s;
		})()`)
		// 5 misses, then 15 hits.
		if v, err := strconv.ParseFloat(strings.TrimSuffix(got, "%"), 64); err != nil || v <= 0 || v > 100 {
			t.Errorf("hit ratio shows %q, want a percentage above 0", got)
		}
		t.Logf("hit ratio %s → %s", before, got)
	})

	step("tables_show_route_and_keys", func(t *testing.T) {
		waitFor[bool](t, page, "the route in the routes table",
			`document.querySelector('#routes-table tbody').textContent.includes('GET /api/products/{id}')`)
		waitFor[bool](t, page, "the hot keys in the keys table",
			`document.querySelector('#keys-table tbody').textContent.includes('/api/products/1')`)
	})

	step("inspect", func(t *testing.T) {
		do(t, page,
			chromedp.SetValue(chromedp.ID("inspect-url"), m.proxy+"/api/products/1"),
			chromedp.Click(chromedp.ID("inspect-submit")),
		)
		got := waitFor[string](t, page, "the inspect result",
			`document.querySelector('#inspect-result table') && document.querySelector('#inspect-result').textContent`)
		for _, want := range []string{"route", "GET /api/products/{id}", "stored", "tags", "product:1"} {
			if !strings.Contains(got, want) {
				t.Errorf("inspect result %q lacks %q", got, want)
			}
		}
	})

	step("purge_tag_drops_entries", func(t *testing.T) {
		before := waitFor[int](t, page, "entries above 0", `(() => { const n = `+entriesJS+`; return n > 0 && n; })()`)
		if eval[bool](t, page, `document.querySelector('#purge-soft').checked`) {
			t.Fatal("the soft checkbox starts checked; want a hard purge by default")
		}
		do(t, page,
			chromedp.SetValue(chromedp.ID("purge-kind"), "tag"),
			chromedp.SendKeys(chromedp.ID("purge-value"), "products"),
			chromedp.Click(chromedp.ID("purge-submit")),
		)
		type result struct {
			Done     bool   `json:"done"`
			Affected int    `json:"affected"`
			Text     string `json:"text"`
		}
		r := waitFor[result](t, page, "the purge result", `(() => {
			const r = document.querySelector('#purge-result');
			const done = r.dataset.affected !== undefined || r.classList.contains('error');
			return done && {done, affected: +r.dataset.affected || 0, text: r.textContent};
		})()`)
		if r.Affected <= 0 {
			t.Fatalf("purge of tag products: #purge-result %q, want an affected count above 0", r.Text)
		}
		type count struct {
			N int `json:"n"`
		}
		after := waitFor[count](t, page, fmt.Sprintf("entries below %d", before),
			`(() => { const n = `+entriesJS+`; return n < `+strconv.Itoa(before)+` && {n}; })()`)
		t.Logf("purge: %s; entries %d → %d", r.Text, before, after.N)
	})

	step("wrong_token_is_refused", func(t *testing.T) {
		do(t, page,
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("login-token")),
			chromedp.SendKeys(chromedp.ID("login-token"), "not-"+m.token),
			chromedp.Click(chromedp.ID("login-submit")),
		)
		msg := waitFor[string](t, page, "the login error", `document.querySelector('#login-error').textContent`)
		if !strings.Contains(msg, "rejected") {
			t.Errorf("login error %q, want it to say the token was rejected", msg)
		}
		if !eval[bool](t, page, `document.querySelector('#dashboard').hidden`) {
			t.Error("the dashboard is visible after a wrong token")
		}
	})
}
