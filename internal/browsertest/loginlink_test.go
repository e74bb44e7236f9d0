package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/moatproxy/moat/internal/demo"
)

// tokenKey is where the page keeps its bearer token (app.js TOKEN_KEY).
const tokenKey = "moat.adminToken"

// loginLink asks the admin API for a one-time login link, as moat
// dashboard does, and returns it (a path with the code in the fragment).
func (m *moat) loginLink(t *testing.T) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, m.admin+"/api/login-link", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+m.token)
	res, err := m.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK || !strings.HasPrefix(out.URL, "/#login=") {
		t.Fatalf("POST /api/login-link: status %d, url %q, err %v", res.StatusCode, out.URL, err)
	}
	return out.URL
}

// statusWith returns the status of GET /api/stats with bearer.
func (m *moat) statusWith(t *testing.T, bearer string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, m.admin+"/api/stats", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	res, err := m.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestLoginLink opens a login link, as moat dashboard does, and checks that
// the dashboard signs in by itself, that the code leaves the address bar,
// that the tab holds a session token rather than the admin token, that the
// link works once, and that Sign out ends the session on the server.
func TestLoginLink(t *testing.T) {
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
	link := m.loginLink(t)
	var session string

	step("link_signs_in", func(t *testing.T) {
		do(t, page,
			chromedp.Navigate(m.admin+link),
			chromedp.WaitVisible(chromedp.ID("dashboard")),
		)
		waitFor[int](t, page, "the first stats poll", `+document.body.dataset.polls`)
		if hash := eval[string](t, page, `location.hash`); hash != "" {
			t.Errorf("location.hash = %q after sign-in, want empty (the code must leave the address bar)", hash)
		}
		if href := eval[string](t, page, `location.href`); strings.Contains(href, "login=") {
			t.Errorf("location.href = %q still holds the code", href)
		}
		session = eval[string](t, page, fmt.Sprintf(`sessionStorage.getItem(%s) || ''`, js(tokenKey)))
		if session == "" || session == m.token {
			t.Fatalf("sessionStorage holds %q, want a session token (not empty, not the admin token)", session)
		}
		if strings.Contains(eval[string](t, page, `JSON.stringify(sessionStorage)`), m.token) {
			t.Error("sessionStorage holds the admin token")
		}
		if got := m.statusWith(t, session); got != http.StatusOK {
			t.Errorf("GET /api/stats with the tab's session token: %d, want 200", got)
		}
	})

	step("link_works_once", func(t *testing.T) {
		do(t, page,
			chromedp.Navigate("about:blank"), // a full load, not a same-page fragment change
			chromedp.Navigate(m.admin+link),
			chromedp.WaitVisible(chromedp.ID("login-token")),
		)
		msg := waitFor[string](t, page, "the login-link error", `document.querySelector('#login-error').textContent`)
		if !strings.Contains(msg, "invalid or was already used") {
			t.Errorf("login error %q, want it to say the link is invalid or used", msg)
		}
		if hash := eval[string](t, page, `location.hash`); hash != "" {
			t.Errorf("location.hash = %q after a refused link, want empty", hash)
		}
	})

	step("sign_out_ends_session", func(t *testing.T) {
		do(t, page,
			chromedp.Navigate("about:blank"),
			chromedp.Navigate(m.admin+m.loginLink(t)),
			chromedp.WaitVisible(chromedp.ID("dashboard")),
		)
		waitFor[int](t, page, "the first stats poll", `+document.body.dataset.polls`)
		second := eval[string](t, page, fmt.Sprintf(`sessionStorage.getItem(%s) || ''`, js(tokenKey)))
		do(t, page,
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("login-token")),
		)
		if left := eval[string](t, page, fmt.Sprintf(`sessionStorage.getItem(%s) || ''`, js(tokenKey))); left != "" {
			t.Errorf("sessionStorage after sign-out holds %q, want nothing", left)
		}
		if got := m.statusWith(t, second); got != http.StatusUnauthorized {
			t.Errorf("GET /api/stats with the signed-out session: %d, want 401", got)
		}
		if got := m.statusWith(t, session); got != http.StatusOK {
			t.Errorf("GET /api/stats with the first session (another tab): %d, want 200", got)
		}
	})
}
