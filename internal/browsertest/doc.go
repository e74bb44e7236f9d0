// Package browsertest drives the admin dashboard (internal/admin/ui) in a
// real headless Chromium against a real moat started in-process: the demo
// origin behind the gateway, the admin listener in front of the page.
//
// It holds only tests. They use the system's Chromium (/usr/bin/chromium,
// or $CHROME_PATH) and never download a browser. Without one they skip,
// or fail when $CI is true, so that CI cannot pass by skipping. `make test`
// installs Debian's chromium when it runs as root.
//
// TestDashboardScreenshot, run by hand with MOAT_DASHBOARD_SCREENSHOT set,
// writes docs/dashboard.png from the same harness under generated load.
package browsertest
