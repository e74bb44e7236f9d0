package config

import (
	"strings"
	"testing"
	"time"
)

func TestVolatilityClasses(t *testing.T) {
	c, err := Parse([]byte(`
volatility:
  dynamic: {ttl: 20s}
  prices: {ttl: 5s, stale_while_revalidate: 5s, refresh_ahead: true}
routes:
  - match: GET /a
    volatility: dynamic
  - match: GET /b
    volatility: dynamic
    ttl: 1m
    refresh_ahead: false
    ttl_jitter: 25%
  - match: GET /c
    volatility: prices
  - match: GET /d
    stale_if_error: 10m
`), "v.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  Volatility
		want Volatility
	}{
		{"override_keeps_other_preset_keys", c.Effective(&c.Routes[0]), Volatility{
			TTL: Duration(20 * time.Second), StaleWhileRevalidate: Duration(10 * time.Second), StaleIfError: Duration(10 * time.Minute),
			TTLJitter: 0.1, EarlyRefresh: 1, RefreshAhead: true, Coalesce: true}},
		{"route_keys_win", c.Effective(&c.Routes[1]), Volatility{
			TTL: Duration(time.Minute), StaleWhileRevalidate: Duration(10 * time.Second), StaleIfError: Duration(10 * time.Minute),
			TTLJitter: 0.25, EarlyRefresh: 1, RefreshAhead: false, Coalesce: true}},
		{"new_class", c.Effective(&c.Routes[2]), Volatility{
			TTL: Duration(5 * time.Second), StaleWhileRevalidate: Duration(5 * time.Second), RefreshAhead: true, Coalesce: true}},
		{"no_class", c.Effective(&c.Routes[3]), Volatility{StaleIfError: Duration(10 * time.Minute), Coalesce: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got  %+v\nwant %+v", tt.got, tt.want)
			}
		})
	}
}

func TestFreshnessKeyErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown_class", "routes:\n  - match: GET /a\n    volatility: dynamik\n", `f.yaml:3: routes[0].volatility: "dynamik" is not one of`},
		{"jitter_too_large", "routes:\n  - match: GET /a\n    ttl_jitter: 80%\n", "f.yaml:3: routes[0].ttl_jitter: must be between 0% and 50%, got 80%"},
		{"bad_percent", "routes:\n  - match: GET /a\n    ttl_jitter: lots\n", `f.yaml:3: routes[0].ttl_jitter: invalid percentage "lots"`},
		{"negative_window", "routes:\n  - match: GET /a\n    stale_if_error: -1m\n", "f.yaml:3: routes[0].stale_if_error: must not be negative"},
		{"beta_out_of_range", "volatility:\n  x: {early_refresh: 50}\n", "f.yaml:2: volatility.x.early_refresh: must be between 0 (off) and 10"},
		{"unknown_class_key", "volatility:\n  x: {ttl: 1s, tll: 2s}\n", `f.yaml:2: volatility.x.tll: unknown key (did you mean "ttl"?)`},
		{"queue_negative", "origin: {queue: -1}\n", "f.yaml:1: origin.queue: must not be negative"},
		{"refresh_concurrency_zero", "cache: {refresh_concurrency: 0}\n", "f.yaml:1: cache.refresh_concurrency: must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), "f.yaml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParsePercent(t *testing.T) {
	for in, want := range map[string]Percent{"10%": 0.1, "2.5%": 0.025, "0.3": 0.3, " 50 % ": 0.5, "0": 0} {
		got, err := ParsePercent(in)
		if err != nil || got != want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParsePercent("ten%"); err == nil {
		t.Error("ParsePercent(ten%) accepted")
	}
}

func TestInvalidationKeys(t *testing.T) {
	t.Setenv("CDN_TOKEN", "tok-123")
	c, err := Parse([]byte(`
tags: {headers: [Surrogate-Key, xkey], downstream: true}
purge_targets:
  - url: https://cdn.example/purge
    headers: {Authorization: "${CDN_TOKEN}"}
routes:
  - match: GET /api/products/{id}
    tags: ["product:{id}", products]
    version: 3
    downstream: {max_age: 60s, s_maxage: 1h, stale_while_revalidate: 30s, public: true}
  - match: PUT /api/products/{id}
    invalidate: ["product:{id}", products]
`), "i.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.PurgeTargets[0].Headers["Authorization"]; got != "tok-123" {
		t.Errorf("purge target header = %q, want the environment's value", got)
	}
	if got := c.Routes[0].Downstream.CacheControl(); got != "public, max-age=60, s-maxage=3600, stale-while-revalidate=30" {
		t.Errorf("downstream = %q", got)
	}
	if c.Routes[0].Version != 3 || len(c.Routes[1].Invalidate) != 2 || !c.Tags.Downstream {
		t.Errorf("parsed %+v", c)
	}
	for _, tt := range []struct{ in, want string }{
		{"routes:\n  - match: GET /a\n    downstream: {public: true, private: true}\n", "i.yaml:3: routes[0].downstream: public and private exclude each other"},
		{"routes:\n  - match: GET /a\n    tags: [\"a b\"]\n", "routes[0].tags[0]: want a tag without spaces"},
		{"routes:\n  - match: GET /a/{id}\n    invalidate: [\"x:{id\"]\n", "routes[0].invalidate[0]: unbalanced braces"},
		{"purge_targets:\n  - url: ftp://x\n", "i.yaml:2: purge_targets[0].url: want an absolute http or https URL"},
	} {
		if _, err := Parse([]byte(tt.in), "i.yaml"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error %v, want %q", tt.in, err, tt.want)
		}
	}
}
