package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedisSection(t *testing.T) {
	t.Parallel()
	in := "cache:\n  redis:\n    addrs: [\"10.0.0.1:26379\", \"10.0.0.2:26379\"]\n    mode: sentinel\n    master_name: mymaster\n" +
		"    password: ${MOAT_REDIS_PASSWORD}\n    timeout: 20ms\n    key_prefix: \"shop:\"\n    bus: {grace: 2s}\n"
	c, err := parse([]byte(in), "moat.yaml", parseOptions{lookupEnv: mapEnv(map[string]string{"MOAT_REDIS_PASSWORD": "s3cret"})})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Cache.Redis.WithDefaults(c.Cache.MaxObjectSize)
	if !slices.Equal(r.Addrs, []string{"10.0.0.1:26379", "10.0.0.2:26379"}) || r.Mode != "sentinel" || r.MasterName != "mymaster" ||
		r.Password != "s3cret" || r.Timeout != Duration(20*time.Millisecond) || r.KeyPrefix != "shop:" ||
		r.Bus.Grace != Duration(2*time.Second) || r.Bus.Retention != DefaultBusRetention || r.MaxObjectSize != c.Cache.MaxObjectSize {
		t.Errorf("parsed %+v", r)
	}
	if d, err := Parse([]byte("listen: ':8080'\n"), "moat.yaml"); err != nil || d.Cache.Redis != nil {
		t.Errorf("no redis section: %+v %v (Redis is optional and off by default)", d.Cache.Redis, err)
	}
}

func TestRedisErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"no_addrs", "cache:\n  redis:\n    mode: cluster\n", "moat.yaml:2: cache.redis.addrs: required"},
		{"bad_addr", "cache:\n  redis:\n    addrs: [\"localhost\"]\n", "moat.yaml:3: cache.redis.addrs[0]: want host:port"},
		{"bad_mode", "cache:\n  redis:\n    addrs: [\"h:1\"]\n    mode: ring\n", "moat.yaml:4: cache.redis.mode: want one of standalone, sentinel, cluster"},
		{"sentinel_needs_master", "cache:\n  redis:\n    addrs: [\"h:1\"]\n    mode: sentinel\n", "moat.yaml:4: cache.redis.master_name: required in sentinel mode"},
		{"cluster_db", "cache:\n  redis:\n    addrs: [\"h:1\"]\n    mode: cluster\n    db: 2\n", "moat.yaml:5: cache.redis.db: a Redis Cluster has only db 0"},
		{"timeout", "cache:\n  redis:\n    addrs: [\"h:1\"]\n    timeout: 1m\n", "moat.yaml:4: cache.redis.timeout: want a positive duration up to 5s"},
		{"tls_off_with_files", "cache:\n  redis:\n    addrs: [\"h:1\"]\n    tls:\n      ca_file: ca.pem\n", "moat.yaml:4: cache.redis.tls.enabled: TLS files or a server name are set but enabled is false"},
		{"prefix_braces", "cache:\n  redis:\n    addrs: [\"h:1\"]\n    key_prefix: \"{moat}:\"\n", "moat.yaml:4: cache.redis.key_prefix: must not contain { or }"},
		{"unknown_key", "cache:\n  redis:\n    addrs: [\"h:1\"]\n    adress: x\n", "moat.yaml:4: cache.redis.adress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := parseErrors(t, tt.in, nil)
			if len(got) == 0 || !strings.HasPrefix(got[0], tt.want) {
				t.Errorf("got\n\t%s\nwant a first problem starting with\n\t%s", strings.Join(got, "\n\t"), tt.want)
			}
		})
	}
}
