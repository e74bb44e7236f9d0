package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Upstream is a named pool of origin servers (upstreams.NAME), like an
// nginx upstream block: requests are balanced over its members, which
// leave the rotation when their health checks fail or their requests do.
// A route sends its requests to one with `upstream: NAME`; `origin.upstream`
// makes one the default for every other request.
type Upstream struct {
	// URLs are members given by URL alone: absolute http or https URLs
	// without a path ("http://10.0.0.1:8080").
	URLs []string `yaml:"urls,omitempty"`
	// Members are members with settings of their own (after URLs).
	Members []UpstreamMember `yaml:"members,omitempty"`
	// Balance picks a member per request: round_robin (the default;
	// weighted), least_conn, random_two (two random members, the less
	// loaded), hash (by URL: one URL goes to one member while it is up) or
	// first (the first usable member in the order listed: failover).
	Balance string `yaml:"balance"`
	// Health is the active health check (off without a path).
	Health UpstreamHealth `yaml:"health"`
	// Passive ejects a member after failed requests (nginx's max_fails and
	// fail_timeout); on by default.
	Passive UpstreamPassive `yaml:"passive"`
	// Timeout bounds the wait for a member's response headers. Default:
	// origin.timeout.
	Timeout Duration `yaml:"timeout"`
	// DialTimeout bounds connecting to a member. Default:
	// origin.dial_timeout.
	DialTimeout Duration `yaml:"dial_timeout"`
	// MaxIdleConns is the keep-alive connections kept per member. Default
	// 64.
	MaxIdleConns int `yaml:"max_idle_conns"`
	// Retries is how many other members a request that could not connect
	// is sent to (never one that may have reached a member). Default: the
	// members less one, at most 2; 0 with retries_off.
	Retries int `yaml:"retries"`
}

// UpstreamMember is one server of an upstream.
type UpstreamMember struct {
	// URL is the member's absolute http or https URL, without a path.
	URL string `yaml:"url"`
	// Weight is its share of the requests, relative to the others'.
	// Default 1.
	Weight int `yaml:"weight"`
	// Backup members get requests only while no other member can take
	// them.
	Backup bool `yaml:"backup"`
	// MaxConns caps its concurrent requests (0: no cap); a member at its
	// cap is skipped, and when all are, the request gets 503.
	MaxConns int `yaml:"max_conns"`
}

// UpstreamHealth is an upstream's active health check: a GET of Path on
// every member every Interval.
type UpstreamHealth struct {
	// Path is the path probed, e.g. /healthz. Empty: no active check.
	Path string `yaml:"path"`
	// Interval between probes of a member. Default 5s.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one probe. Default 2s.
	Timeout Duration `yaml:"timeout"`
	// Rise is the passed probes in a row that bring a member back. Default 2.
	Rise int `yaml:"rise"`
	// Fall is the failed probes in a row that take a member out. Default 3.
	Fall int `yaml:"fall"`
	// Status are the statuses that pass. Default 200-399.
	Status []int `yaml:"status,omitempty"`
	// Host is the Host of the probes. Default: the member's.
	Host string `yaml:"host"`
}

// UpstreamPassive ejects members whose requests fail.
type UpstreamPassive struct {
	// MaxFails failures within FailTimeout eject a member for FailTimeout;
	// then one request tries it. Default 3; -1 turns passive checks off.
	MaxFails int `yaml:"max_fails"`
	// FailTimeout is the window and the ejection. Default 10s.
	FailTimeout Duration `yaml:"fail_timeout"`
	// Statuses are the answers counted as failures besides errors.
	// Default none (any client could eject every member by asking for a
	// URL the origin answers 503).
	Statuses []int `yaml:"statuses,omitempty"`
}

// Balance policies of Upstream.Balance.
var balances = []string{"round_robin", "least_conn", "random_two", "hash", "first"}

var upstreamName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// AllMembers returns u's members: URLs, then Members.
func (u *Upstream) AllMembers() []UpstreamMember {
	out := make([]UpstreamMember, 0, len(u.URLs)+len(u.Members))
	for _, s := range u.URLs {
		out = append(out, UpstreamMember{URL: s})
	}
	return append(out, u.Members...)
}

// UpstreamNames returns the names of the upstreams, sorted.
func (c *Config) UpstreamNames() []string {
	names := make([]string, 0, len(c.Upstreams))
	for name := range c.Upstreams {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (k *checker) upstreams() {
	c := k.c
	names := c.UpstreamNames()
	for _, name := range names {
		u := c.Upstreams[name]
		base := mapKey("upstreams", name)
		if !upstreamName.MatchString(name) {
			k.errorf(base, nil, "upstream names are lower-case letters, digits, - and _ (at most 63), got %q", name)
		}
		if len(u.URLs)+len(u.Members) == 0 {
			k.errorf(base, nil, "has no members: give urls: [http://10.0.0.1:8080, ...] or members: [{url: ...}]")
		}
		seen := map[string]string{}
		check := func(key, raw string) {
			if msg := checkMemberURL(raw); msg != "" {
				k.errorf(key, nil, "%s", msg)
				return
			}
			u, _ := url.Parse(raw)
			id := strings.ToLower(u.Scheme + "://" + u.Host)
			if prev, dup := seen[id]; dup {
				k.errorf(key, nil, "%s is already a member (%s)", raw, prev)
			}
			seen[id] = key
		}
		for i, s := range u.URLs {
			check(fmt.Sprintf("%s.urls[%d]", base, i), s)
		}
		for i, m := range u.Members {
			mk := fmt.Sprintf("%s.members[%d]", base, i)
			check(mk+".url", m.URL)
			if m.Weight < 0 {
				k.errorf(mk+".weight", nil, "must not be negative (0 means 1), got %d", m.Weight)
			}
			if m.MaxConns < 0 {
				k.errorf(mk+".max_conns", nil, "must not be negative (0: no cap), got %d", m.MaxConns)
			}
		}
		if u.Balance != "" && !slices.Contains(balances, u.Balance) {
			k.errorf(base+".balance", nil, "%s", oneOf(u.Balance, balances))
		}
		h := u.Health
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			k.errorf(base+".health.path", nil, "must start with /, got %q", h.Path)
		}
		for key, d := range map[string]Duration{"health.interval": h.Interval, "health.timeout": h.Timeout, "passive.fail_timeout": u.Passive.FailTimeout, "timeout": u.Timeout, "dial_timeout": u.DialTimeout} {
			if d < 0 {
				k.errorf(base+"."+key, nil, "must not be negative (0: the default), got %s", d)
			}
		}
		if h.Rise < 0 || h.Fall < 0 {
			k.errorf(base+".health", nil, "rise and fall must not be negative (0: the defaults 2 and 3)")
		}
		for i, s := range h.Status {
			if s < 100 || s > 599 {
				k.errorf(fmt.Sprintf("%s.health.status[%d]", base, i), nil, "not an HTTP status: %d", s)
			}
		}
		for i, s := range u.Passive.Statuses {
			if s < 100 || s > 599 {
				k.errorf(fmt.Sprintf("%s.passive.statuses[%d]", base, i), nil, "not an HTTP status: %d", s)
			}
		}
		if u.Passive.MaxFails < -1 {
			k.errorf(base+".passive.max_fails", nil, "must be -1 (off), 0 (the default 3) or more, got %d", u.Passive.MaxFails)
		}
		if u.MaxIdleConns < 0 {
			k.errorf(base+".max_idle_conns", nil, "must not be negative, got %d", u.MaxIdleConns)
		}
		if u.Retries < -1 {
			k.errorf(base+".retries", nil, "must be -1 (off), 0 (the default) or more, got %d", u.Retries)
		}
	}
	ref := func(key, name string) {
		if name == "" {
			return
		}
		if _, ok := c.Upstreams[name]; ok {
			return
		}
		msg := fmt.Sprintf("no upstream %q", name)
		if s, ok := closest(name, names); ok {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		} else if len(names) == 0 {
			msg += ": define it under upstreams:"
		} else {
			msg += "; upstreams: " + strings.Join(names, ", ")
		}
		k.errorf(key, nil, "%s", msg)
	}
	ref("origin.upstream", c.Origin.Upstream)
	if c.Origin.Upstream != "" && c.Origin.URL != "" {
		k.errorf("origin.upstream", []string{"origin"}, "origin.url and origin.upstream both say where requests go: keep one")
	}
	for i, r := range c.Routes {
		ref(fmt.Sprintf("routes[%d].upstream", i), r.Upstream)
	}
}

// checkMemberURL returns what is wrong with an upstream member's URL, or "".
func checkMemberURL(raw string) string {
	if msg := checkOriginURL(raw); msg != "" {
		return msg
	}
	u, _ := url.Parse(raw)
	if u.Path != "" && u.Path != "/" {
		return fmt.Sprintf("member %q has a path; members are servers (scheme://host:port): a path prefix belongs in origin.url", raw)
	}
	return ""
}
