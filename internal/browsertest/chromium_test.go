package browsertest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/moatproxy/moat/internal/syncbuf"
)

// chromiumPath returns the browser to drive: $CHROME_PATH, or Debian's
// /usr/bin/chromium. Without one the test skips, but under CI=true it
// fails: a browser test that CI skips proves nothing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := cmp.Or(os.Getenv("CHROME_PATH"), "/usr/bin/chromium")
	info, err := os.Stat(path)
	if err == nil && (info.IsDir() || info.Mode()&0o111 == 0) {
		err = errors.New("not an executable file")
	}
	if err != nil {
		msg := fmt.Sprintf("chromium not installed (%s: %v): run make test as root, or apt-get install chromium", path, err)
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return path
}

// newBrowser starts a headless Chromium with a fresh profile and returns
// the context of its first tab. ctx bounds the browser's whole life. When
// the test ends the browser is closed and the test fails if any process
// that used its profile is still running.
func newBrowser(t *testing.T, ctx context.Context, width, height int) context.Context {
	t.Helper()
	exe := chromiumPath(t)
	profile := t.TempDir()
	var output syncbuf.Buffer // the browser's output, which its own goroutine writes
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(width, height),
		chromedp.NoSandbox, // root in a container has no user namespaces for the sandbox
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		// Nothing but the page under test may touch the network.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.CombinedOutput(&output),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	page, cancelPage := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		closing, cancel := context.WithTimeout(page, 10*time.Second)
		defer cancel()
		if err := chromedp.Cancel(closing); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing chromium: %v", err)
		}
		cancelPage()
		cancelAlloc() // waits until the browser process has exited
		if t.Failed() {
			t.Logf("chromium output (last 4 KiB):\n%s", tail(&output, 4<<10))
		}
		if pids := leftovers(profile, 5*time.Second); len(pids) > 0 {
			t.Errorf("chromium processes %v outlived the test; killed them", pids)
		}
	})
	// The first Run starts the browser. It must not carry a per-step
	// deadline: the context of the first Run bounds the browser's life.
	if err := chromedp.Do(page); err != nil {
		t.Fatalf("starting %s: %v\n%s", exe, err, tail(&output, 4<<10))
	}
	return page
}

// leftovers waits up to wait for the processes that run with the profile
// directory to exit, kills those that do not, and returns their pids. It
// reads /proc, so off Linux it finds nothing (the check is best effort).
func leftovers(profile string, wait time.Duration) []int {
	flag := []byte("--user-data-dir=" + profile)
	find := func() []int {
		var pids []int
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err != nil {
				continue
			}
			for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
				if bytes.Equal(arg, flag) {
					pids = append(pids, pid)
					break
				}
			}
		}
		return pids
	}
	deadline := time.Now().Add(wait)
	for {
		pids := find()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				if p, err := os.FindProcess(pid); err == nil {
					_ = p.Kill()
				}
			}
			return pids
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitFor polls the JavaScript expression in the page until it is truthy
// (at most stepTimeout) and returns its value decoded into T. On timeout it
// fails the test with what the page shows.
func waitFor[T any](t *testing.T, page context.Context, what, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, stepTimeout+time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Poll[T](expr,
		chromedp.WithPollingInterval(100*time.Millisecond),
		chromedp.WithPollingTimeout(stepTimeout)))
	if err != nil {
		t.Fatalf("waiting for %s: %v\npage shows: %s", what, err, pageState(page))
	}
	return v
}

// stepTimeout bounds one wait or one group of actions, so that a page
// that never shows an element fails in seconds, with its state, rather
// than at the test's deadline.
const stepTimeout = 20 * time.Second

// do runs steps in the page and fails the test on error.
func do(t *testing.T, page context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%v\npage shows: %s", err, pageState(page))
	}
}

// eval evaluates expr in the page and fails the test on error.
func eval[T any](t *testing.T, page context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(page, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v\npage shows: %s", expr, err, pageState(page))
	}
	return v
}

// pageState is the text of the elements a failure message needs.
func pageState(page context.Context) string {
	ctx, cancel := context.WithTimeout(page, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(Object.fromEntries(
		['status', 'login-error', 'hit-ratio', 'entries', 'purge-result', 'inspect-result']
			.map((id) => [id, (document.getElementById(id) || {}).textContent]).concat([['polls', document.body.dataset.polls]])))`))
	if err != nil {
		return fmt.Sprintf("(page unreadable: %v)", err)
	}
	return s
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// tail is the last n bytes of what the browser wrote.
func tail(b *syncbuf.Buffer, n int) string {
	s := b.String()
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
