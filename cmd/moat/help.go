package main

import (
	"flag"
	"fmt"
	"strings"
)

// help is what `moat COMMAND -h` prints around a command's flags.
type help struct {
	synopsis string // "moat serve [--config FILE] [--drain 30s] [--warm]"
	about    string // what the command does, a paragraph
	examples []string
	signals  string // how the command answers signals, if it runs long
	env      string // the environment variables it reads
}

// helps are the commands' help texts.
var helps = map[string]help{
	"serve": {
		synopsis: "moat serve [--config moat.yaml] [--drain 30s] [--warm]",
		about:    "Run the caching reverse proxy (and the admin listener, when admin.listen is set) as the config says.",
		examples: []string{"moat serve --config /etc/moat/moat.yaml", "moat serve --config moat.yaml --warm --rate 50"},
		signals: "SIGTERM, SIGINT: /readyz answers 503 for shutdown_delay, then in-flight requests drain (--drain) and moat exits 0;\n" +
			"  a second signal ends the delay. SIGHUP: read the config file again and apply it without dropping a request\n" +
			"  or the cache (a config with errors is refused and logged; the running one goes on). SIGUSR1: reopen\n" +
			"  log.access_file (logrotate).",
		env: "MOAT_ADMIN_TOKEN and any other variable the config names as \"${NAME}\" (admin.token, cache.redis.password, purge_targets headers).",
	},
	"validate": {
		synopsis: "moat validate [--config moat.yaml] [--strict]",
		about:    "Check a config file as moat serve would: every problem in one pass, as FILE:LINE: KEY: MESSAGE. Exit 1 on errors (and on warnings with --strict).",
		examples: []string{"moat validate --config moat.yaml", "moat validate --strict --config moat.yaml && systemctl restart moat"},
		env:      "the variables the config names as \"${NAME}\".",
	},
	"purge": {
		synopsis: "moat purge [--admin URL] [--token T] (--tag X | --url U | --prefix P | --route R | --all) [--soft]",
		about:    "Purge entries through a running moat's admin API; the purge reaches every node of a fleet and the purge targets.",
		examples: []string{"moat purge --token $T --tag product:42", "moat purge --token $T --url https://api.example.com/products/42 --soft"},
		env:      "MOAT_ADMIN_TOKEN: the admin token when --token is not given.",
	},
	"reload": {
		synopsis: "moat reload [--admin URL] [--token T]",
		about:    "Make a running moat read its config file again, as SIGHUP does: in-flight requests finish on the old config, entries of unchanged routes stay, JWKS, API-key and TLS files are re-read. A config with errors is refused (exit 1, its problems as FILE:LINE: KEY: MESSAGE) and the running one goes on.",
		examples: []string{"moat validate --config /etc/moat/moat.yaml && moat reload --token $T"},
		env:      "MOAT_ADMIN_TOKEN: the admin token when --token is not given.",
	},
	"warm": {
		synopsis: "moat warm --config moat.yaml --from urls.txt|sitemap.xml|hotkeys|fleet [--rate N] [--concurrency N]",
		about:    "Fill the cache through a running gateway, rate-limited: a URL list, a sitemap, the hot-key file, or the fleet's hot set in Redis.",
		examples: []string{"moat warm --config moat.yaml --from hotkeys --rate 100", "moat warm --config moat.yaml --from sitemap.xml"},
	},
	"demo": {
		synopsis: "moat demo [--load 10s]",
		about:    "Run a demo API with moat in front of it, on loopback, with no files and no Redis; --load measures it with and without moat.",
		examples: []string{"moat demo", "moat demo --load 10s"},
		signals:  "SIGINT, SIGTERM: stop.",
	},
	"stats": {
		synopsis: "moat stats [--admin URL] [--token T] [--json]",
		about:    "Print a running moat's figures from its admin API.",
		examples: []string{"moat stats --token $T", "moat stats --json | jq .routes"},
		env:      "MOAT_ADMIN_TOKEN: the admin token when --token is not given.",
	},
	"inspect": {
		synopsis: "moat inspect [--admin URL] [--token T] [--json] URL",
		about:    "Show what a running moat stores for URL and what it would do with a request for it: route, key, scope, freshness, tags.",
		examples: []string{"moat inspect --token $T https://api.example.com/products/42"},
		env:      "MOAT_ADMIN_TOKEN: the admin token when --token is not given.",
	},
	"top": {
		synopsis: "moat top [--admin URL] [--token T] [--interval 1s] [--once]",
		about:    "A live view of a running moat, like varnishstat: req/s, hit ratio, origin offload, latency, routes, hottest keys, L2 and bus health.",
		examples: []string{"moat top --token $T", "moat top --token $T --once > snapshot.txt"},
		signals:  "q then Enter, or SIGINT: quit.",
		env:      "MOAT_ADMIN_TOKEN: the admin token when --token is not given.",
	},
	"dashboard": {
		synopsis: "moat dashboard [--admin URL] [--token T] [--no-open]",
		about: "Open a running moat's admin dashboard in the browser, already signed in. moat asks the admin API for a one-time login link " +
			"(a code valid 60 s, in the URL fragment), prints it and opens it with xdg-open (Linux) or open (macOS); the page trades the code " +
			"for a session token (12 h, ended by Sign out or a change of admin.token) and removes it from the address bar. The admin token is never in a URL.",
		examples: []string{"moat dashboard --token $T", "moat dashboard --admin http://10.0.0.5:9090 --no-open"},
		env:      "MOAT_ADMIN_TOKEN: the admin token when --token is not given.",
	},
}

// describe sets fs's usage to the command's help and its flags.
func describe(fs *flag.FlagSet) {
	h, ok := helps[fs.Name()]
	if !ok {
		return
	}
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", h.synopsis, h.about)
		if len(h.examples) > 0 {
			fmt.Fprintf(w, "\nExamples:\n  %s\n", strings.Join(h.examples, "\n  "))
		}
		if h.signals != "" {
			fmt.Fprintf(w, "\nSignals:\n  %s\n", h.signals)
		}
		if h.env != "" {
			fmt.Fprintf(w, "\nEnvironment:\n  %s\n", h.env)
		}
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
}
