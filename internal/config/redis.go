package config

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Redis puts a shared L2 under the in-memory cache, with the fleet's namespace versions,
// fill leases and purge bus (docs/fleet.md). Redis is optional: without this section moat
// runs with L1 alone. Zero values take the defaults named on each field.
//
// WARNING: Password is a secret; write it as "${NAME}" to read it from the environment.
type Redis struct {
	// Addrs are the servers, as written: ["127.0.0.1:6379"]. Standalone: the server;
	// sentinel: the sentinels; cluster: seed nodes. Required.
	Addrs []string `yaml:"addrs"`
	// Mode is standalone (default), sentinel or cluster.
	Mode string `yaml:"mode"`
	// MasterName is the Sentinel master set; required in sentinel mode.
	MasterName string `yaml:"master_name"`
	// Username and Password authenticate (ACL user, or requirepass with no user).
	Username string `yaml:"username" config:"env"`
	Password string `yaml:"password" config:"env"`
	// TLS connects with TLS.
	TLS RedisTLS `yaml:"tls"`
	// DB selects a database (not in cluster mode). Default 0.
	DB int `yaml:"db"`
	// Timeout bounds each Redis call on the request path (an L2 lookup, a lease); a call
	// that takes longer is a miss. Default 10ms. Purges may take 20 times longer.
	Timeout Duration `yaml:"timeout"`
	// DialTimeout bounds connecting. Default 250ms.
	DialTimeout Duration `yaml:"dial_timeout"`
	// PoolSize is the connections kept for blocking calls (the bus reader). Default
	// rueidis's (1000, opened on demand).
	PoolSize int `yaml:"pool_size"`
	// Pipeline is log2 of the pipelined connections per Redis node: commands from all
	// requests are pipelined over them. Default 0 (one per node, as rueidis's default
	// auto-pipelining keeps it busy); 1 or 2 on machines with many cores.
	Pipeline int `yaml:"pipeline"`
	// KeyPrefix starts every key moat writes. Default "moat:".
	KeyPrefix string `yaml:"key_prefix"`
	// MaxObjectSize is the largest entry written to Redis (encoded, after compression).
	// Default: cache.max_object_size.
	MaxObjectSize ByteSize `yaml:"max_object_size"`
	// CompressAbove compresses entries larger than this with zstd before they go to Redis.
	// Default 4KiB.
	CompressAbove ByteSize `yaml:"compress_above"`
	// WriteQueue bounds the L2 writes and deletes waiting to be sent (they are sent after
	// the answer); past it they are dropped and counted. Default 1024.
	WriteQueue int `yaml:"write_queue"`
	// Bus configures the purge bus.
	Bus RedisBus `yaml:"bus"`
}

// RedisTLS configures TLS to Redis.
type RedisTLS struct {
	// Enabled connects with TLS, verifying the server against the system roots or CAFile.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM file of the CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate (mutual TLS).
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name verified in the server's certificate.
	ServerName string `yaml:"server_name"`
}

// RedisBus configures the purge bus (a Redis Stream).
type RedisBus struct {
	// Retention is about how many purges the stream keeps for nodes that reconnect. Default
	// 100000.
	Retention int `yaml:"retention"`
	// Grace is how long a node's bus reader may fail before the node stops trusting what it
	// holds (it may be missing purges), and again each Grace while it fails. Default 5s.
	Grace Duration `yaml:"grace"`
}

// Redis defaults.
const (
	DefaultRedisTimeout     = Duration(10 * time.Millisecond)
	DefaultRedisDialTimeout = Duration(250 * time.Millisecond)
	DefaultRedisPrefix      = "moat:"
	DefaultRedisCompress    = 4 * KiB
	DefaultRedisWriteQueue  = 1024
	DefaultBusRetention     = 100_000
	DefaultBusGrace         = Duration(5 * time.Second)
)

var redisModes = []string{"standalone", "sentinel", "cluster"}

// WithDefaults returns r with every zero value replaced by its default (maxObject: the
// cache's max_object_size).
func (r Redis) WithDefaults(maxObject ByteSize) Redis {
	if r.Mode == "" {
		r.Mode = "standalone"
	}
	if r.Timeout == 0 {
		r.Timeout = DefaultRedisTimeout
	}
	if r.DialTimeout == 0 {
		r.DialTimeout = DefaultRedisDialTimeout
	}
	if r.KeyPrefix == "" {
		r.KeyPrefix = DefaultRedisPrefix
	}
	if r.MaxObjectSize == 0 {
		r.MaxObjectSize = maxObject
	}
	if r.CompressAbove == 0 {
		r.CompressAbove = DefaultRedisCompress
	}
	if r.WriteQueue == 0 {
		r.WriteQueue = DefaultRedisWriteQueue
	}
	if r.Bus.Retention == 0 {
		r.Bus.Retention = DefaultBusRetention
	}
	if r.Bus.Grace == 0 {
		r.Bus.Grace = DefaultBusGrace
	}
	return r
}

func (k *checker) redis() {
	r := k.c.Cache.Redis
	if r == nil {
		return
	}
	if len(r.Addrs) == 0 {
		k.errorf("cache.redis.addrs", []string{"cache.redis"}, "required: the Redis servers, e.g. [\"127.0.0.1:6379\"]")
	}
	for i, a := range r.Addrs {
		k.remoteAddr(fmt.Sprintf("cache.redis.addrs[%d]", i), "cache.redis.addrs", a)
	}
	mode := strings.ToLower(r.Mode)
	if mode != "" && !slices.Contains(redisModes, mode) {
		k.errorf("cache.redis.mode", nil, "want one of %s, got %q", strings.Join(redisModes, ", "), r.Mode)
	}
	if mode == "sentinel" && r.MasterName == "" {
		k.errorf("cache.redis.master_name", []string{"cache.redis.mode"}, "required in sentinel mode: the master set the sentinels monitor")
	}
	if mode != "sentinel" && r.MasterName != "" {
		k.errorf("cache.redis.master_name", nil, "only for mode: sentinel")
	}
	if r.DB < 0 || r.DB > 15 && mode != "cluster" {
		k.errorf("cache.redis.db", nil, "want 0 to 15, got %d", r.DB)
	}
	if mode == "cluster" && r.DB != 0 {
		k.errorf("cache.redis.db", []string{"cache.redis.mode"}, "a Redis Cluster has only db 0")
	}
	if r.Timeout < 0 || r.Timeout > Duration(5*time.Second) {
		k.errorf("cache.redis.timeout", nil, "want a positive duration up to 5s (default %s), got %s", DefaultRedisTimeout, r.Timeout)
	}
	if r.DialTimeout < 0 {
		k.errorf("cache.redis.dial_timeout", nil, "must not be negative (default %s), got %s", DefaultRedisDialTimeout, r.DialTimeout)
	}
	if r.PoolSize < 0 {
		k.errorf("cache.redis.pool_size", nil, "must not be negative, got %d", r.PoolSize)
	}
	if r.Pipeline < 0 || r.Pipeline > 8 {
		k.errorf("cache.redis.pipeline", nil, "want 0 to 8 (log2 of the connections per node), got %d", r.Pipeline)
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		k.errorf("cache.redis.key_prefix", nil, "must not contain { or }: on a Redis Cluster they would put every key moat writes in one slot")
	}
	if r.MaxObjectSize < 0 {
		k.errorf("cache.redis.max_object_size", nil, "must not be negative, got %s", r.MaxObjectSize)
	}
	if r.CompressAbove < 0 {
		k.errorf("cache.redis.compress_above", nil, "must not be negative, got %s", r.CompressAbove)
	}
	if r.WriteQueue < 0 {
		k.errorf("cache.redis.write_queue", nil, "must not be negative, got %d", r.WriteQueue)
	}
	if r.Bus.Retention < 0 || (r.Bus.Retention > 0 && r.Bus.Retention < 100) {
		k.errorf("cache.redis.bus.retention", nil, "want at least 100 purges, got %d", r.Bus.Retention)
	}
	if r.Bus.Grace < 0 {
		k.errorf("cache.redis.bus.grace", nil, "must not be negative (default %s), got %s", DefaultBusGrace, r.Bus.Grace)
	}
	t := r.TLS
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" || t.ServerName != "") {
		k.errorf("cache.redis.tls.enabled", []string{"cache.redis.tls"}, "TLS files or a server name are set but enabled is false")
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		k.errorf("cache.redis.tls.cert_file", []string{"cache.redis.tls"}, "cert_file and key_file go together")
	}
}
