package config

import (
	"strings"
	"testing"
)

func TestUpstreams(t *testing.T) {
	c, err := Parse([]byte(`origin: {upstream: api}
upstreams:
  api:
    urls: [http://10.0.0.1:8080, "http://10.0.0.2:8080/"]
    members:
      - {url: https://10.0.0.3, weight: 3, backup: true, max_conns: 10}
    balance: least_conn
    health: {path: /healthz, interval: 2s, rise: 1, fall: 2, status: [200, 204]}
    passive: {max_fails: 5, fail_timeout: 30s}
  search:
    urls: [http://10.0.1.1:9200]
routes:
  - match: GET /search
    upstream: search
`), "moat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ValidateServe(); err != nil {
		t.Fatalf("origin.upstream instead of origin.url: %v", err)
	}
	u := c.Upstreams["api"]
	ms := u.AllMembers()
	if len(ms) != 3 || ms[0].URL != "http://10.0.0.1:8080" || ms[2].Weight != 3 || !ms[2].Backup || ms[2].MaxConns != 10 {
		t.Errorf("members %+v", ms)
	}
	if u.Health.Interval.D().Seconds() != 2 || u.Passive.MaxFails != 5 || c.Routes[0].Upstream != "search" {
		t.Errorf("upstream %+v, route %+v", u, c.Routes[0])
	}
}

func TestUpstreamErrors(t *testing.T) {
	got := parseErrors(t, `origin: {url: http://127.0.0.1:9000, upstream: api}
upstreams:
  api:
    urls: [10.0.0.1:8080, http://10.0.0.2:8080/v1, http://10.0.0.3:8080, http://10.0.0.3:8080]
    balance: round_robbin
    health: {path: healthz}
    passive: {statuses: [700]}
  empty: {}
  Bad.Name:
    urls: [http://10.0.0.9]
routes:
  - match: GET /a
    upstream: apy
  - match: GET /b
    upstream: nothing
`, nil)
	want := []string{
		`moat.yaml:9: upstreams["Bad.Name"]: upstream names are lower-case`,
		`moat.yaml:4: upstreams.api.urls[0]: "10.0.0.1:8080" has no scheme: add http://`,
		`moat.yaml:4: upstreams.api.urls[1]: member "http://10.0.0.2:8080/v1" has a path`,
		`moat.yaml:4: upstreams.api.urls[3]: http://10.0.0.3:8080 is already a member (upstreams.api.urls[2])`,
		`moat.yaml:5: upstreams.api.balance: "round_robbin" is not one of round_robin, least_conn, random_two, hash, first (did you mean "round_robin"?)`,
		`moat.yaml:6: upstreams.api.health.path: must start with /`,
		`moat.yaml:7: upstreams.api.passive.statuses[0]: not an HTTP status: 700`,
		`moat.yaml:8: upstreams.empty: has no members`,
		`moat.yaml:1: origin.upstream: origin.url and origin.upstream both say where requests go`,
		`moat.yaml:13: routes[0].upstream: no upstream "apy" (did you mean "api"?)`,
		`moat.yaml:15: routes[1].upstream: no upstream "nothing"; upstreams: Bad.Name, api, empty`,
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing problem\n\t%s\ngot:\n\t%s", w, strings.Join(got, "\n\t"))
		}
	}
}
