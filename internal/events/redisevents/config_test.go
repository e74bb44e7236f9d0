package redisevents

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
)

func TestNewPubSubConfig(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   config.RedisPubSubSource
		field string // named by the error; "" for no error
	}{
		{"ok", config.RedisPubSubSource{Addrs: []string{"127.0.0.1:6379"}, Channels: []string{"c"}}, ""},
		{"patterns_only", config.RedisPubSubSource{Addrs: []string{"127.0.0.1:6379"}, Patterns: []string{"p.*"}}, ""},
		{"no_addrs", config.RedisPubSubSource{Channels: []string{"c"}}, "addrs"},
		{"bad_addr", config.RedisPubSubSource{Addrs: []string{"localhost"}, Channels: []string{"c"}}, "addrs[0]"},
		{"no_channels", config.RedisPubSubSource{Addrs: []string{"127.0.0.1:6379"}}, "channels"},
		{"empty_channel", config.RedisPubSubSource{Addrs: []string{"127.0.0.1:6379"}, Channels: []string{""}}, "channels[0]"},
		{"negative_db", config.RedisPubSubSource{Addrs: []string{"127.0.0.1:6379"}, Channels: []string{"c"}, DB: -1}, "db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPubSub(tc.cfg, "src", nil)
			checkConfigErr(t, err, tc.field)
		})
	}
}

func TestNewStreamConfig(t *testing.T) {
	base := func(edit func(*config.RedisStreamSource)) config.RedisStreamSource {
		c := config.RedisStreamSource{Addrs: []string{"127.0.0.1:6379"}, Stream: "s"}
		if edit != nil {
			edit(&c)
		}
		return c
	}
	for _, tc := range []struct {
		name       string
		cfg        config.RedisStreamSource
		source     string
		node       string
		field      string // named by the error; "" for no error
		group      string
		start      string
		claimAfter time.Duration
	}{
		{name: "defaults", cfg: base(nil), source: "src", node: "n1", group: "moat-src", start: "$", claimAfter: 30 * time.Second},
		{name: "per_node", cfg: base(func(c *config.RedisStreamSource) { c.PerNode = true }), source: "src", node: "n1", group: "moat-src-n1", start: "$", claimAfter: 30 * time.Second},
		{name: "group_per_node", cfg: base(func(c *config.RedisStreamSource) { c.Group, c.PerNode = "g", true }), node: "n1", group: "g-n1", start: "$", claimAfter: 30 * time.Second},
		{name: "start_all", cfg: base(func(c *config.RedisStreamSource) { c.Start = "all"; c.ClaimAfter = config.Duration(time.Second) }), source: "src", node: "n1", group: "moat-src", start: "0", claimAfter: time.Second},
		{name: "no_stream", cfg: base(func(c *config.RedisStreamSource) { c.Stream = "" }), source: "src", node: "n1", field: "stream"},
		{name: "no_node", cfg: base(nil), source: "src", field: "node"},
		{name: "no_group_no_name", cfg: base(nil), node: "n1", field: "group"},
		{name: "bad_start", cfg: base(func(c *config.RedisStreamSource) { c.Start = "latest" }), source: "src", node: "n1", field: "start"},
		{name: "negative_claim_after", cfg: base(func(c *config.RedisStreamSource) { c.ClaimAfter = -1 }), source: "src", node: "n1", field: "claim_after"},
		{name: "no_addrs", cfg: base(func(c *config.RedisStreamSource) { c.Addrs = nil }), source: "src", node: "n1", field: "addrs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewStream(tc.cfg, tc.source, tc.node, nil)
			checkConfigErr(t, err, tc.field)
			if err != nil {
				return
			}
			if s.group != tc.group || s.startID != tc.start || s.claimAfter != tc.claimAfter || s.field != "data" || s.consumer != tc.node {
				t.Errorf("group %q, start %q, claim after %v, field %q, consumer %q; want %q, %q, %v, data, %q",
					s.group, s.startID, s.claimAfter, s.field, s.consumer, tc.group, tc.start, tc.claimAfter, tc.node)
			}
		})
	}
}

func checkConfigErr(t *testing.T, err error, field string) {
	t.Helper()
	switch {
	case field == "" && err != nil:
		t.Fatalf("error %v, want none", err)
	case field != "" && (!errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), field+":")):
		t.Fatalf("error %v, want ErrConfig naming %s", err, field)
	}
}
