package config

import (
	"fmt"
	"strings"
	"time"
)

// Memcached puts a shared L2 in Memcached under the in-memory cache
// (docs/fleet.md, docs/invalidation.md). Memcached stores entries only:
// purges reach the other nodes through a bus (cache.redis, which then
// keeps its bus, versions and leases but not the entries; cache.nats_bus;
// or purge_targets naming the other moats), and a node vouches only for
// entries stored after it started. Zero values take the defaults named on
// each field.
type Memcached struct {
	// Servers are the memcached servers, host:port; several make a pool
	// over which keys are spread by consistent hashing (every node must
	// list the same names). Required.
	Servers []string `yaml:"servers"`
	// Timeout bounds each call on the request path; a call that takes
	// longer is a miss. Default 10ms.
	Timeout Duration `yaml:"timeout"`
	// KeyPrefix starts every item's name. Default "moat:".
	KeyPrefix string `yaml:"key_prefix"`
	// MaxObjectSize is the largest item written (encoded, compressed).
	// Default 1MiB less 512 bytes (memcached's default -I 1m).
	MaxObjectSize ByteSize `yaml:"max_object_size"`
	// CompressAbove compresses entries larger than this with zstd.
	// Default 4KiB.
	CompressAbove ByteSize `yaml:"compress_above"`
	// WriteQueue bounds the L2 writes waiting to be sent. Default 1024.
	WriteQueue int `yaml:"write_queue"`
}

// NATSBus carries purges between the nodes over NATS core (see
// natsbus): for a fleet whose L2 is Memcached, or that has no L2 at all.
//
// WARNING: Token and Password are secrets; write them as "${NAME}".
type NATSBus struct {
	// URL is the server, nats://host:port (several, comma-separated).
	// Required.
	URL string `yaml:"url"`
	// Subject carries the purges. Default "moat.purges".
	Subject  string `yaml:"subject"`
	NATSAuth `yaml:",inline"`
	// Grace is how long the connection may stay down before the node
	// stops trusting what it holds (it may have missed purges). Default 5s.
	Grace Duration `yaml:"grace"`
}

// Memcached defaults.
const (
	DefaultMemcachedTimeout = Duration(10 * time.Millisecond)
)

func (k *checker) memcached() {
	m := k.c.Cache.Memcached
	if nb := k.c.Cache.NATSBus; nb != nil {
		k.natsURL("cache.nats_bus.url", "cache.nats_bus", nb.URL)
		if k.c.Cache.Redis != nil {
			k.errorf("cache.nats_bus", []string{"cache.redis"}, "with cache.redis set, the purge bus is Redis's: use one of them")
		}
		if nb.Grace < 0 {
			k.errorf("cache.nats_bus.grace", nil, "must not be negative")
		}
		if nb.Subject != "" && !natsSubject(nb.Subject, false) {
			k.errorf("cache.nats_bus.subject", nil, "a subject to publish to: dot-separated tokens, no spaces or wildcards, got %q", nb.Subject)
		}
	}
	if m == nil {
		return
	}
	if len(m.Servers) == 0 {
		k.errorf("cache.memcached.servers", []string{"cache.memcached"}, "required: the memcached servers, e.g. [\"127.0.0.1:11211\"]")
	}
	seen := map[string]bool{}
	for i, s := range m.Servers {
		key := fmt.Sprintf("cache.memcached.servers[%d]", i)
		if seen[s] {
			k.errorf(key, []string{"cache.memcached.servers"}, "%q is listed twice", s)
		}
		seen[s] = true
		if strings.HasPrefix(s, "/") {
			continue // a Unix socket
		}
		k.remoteAddr(key, "cache.memcached.servers", s)
	}
	if m.Timeout < 0 || m.Timeout > Duration(5*time.Second) {
		k.errorf("cache.memcached.timeout", nil, "want a positive duration up to 5s (default %s), got %s", DefaultMemcachedTimeout, m.Timeout)
	}
	if !printableASCII(m.KeyPrefix) || len(m.KeyPrefix) > 200 {
		k.errorf("cache.memcached.key_prefix", nil, "printable ASCII without spaces, at most 200 bytes (memcached's item names), got %q", m.KeyPrefix)
	}
	if m.MaxObjectSize < 0 || m.CompressAbove < 0 || m.WriteQueue < 0 {
		k.errorf("cache.memcached", nil, "max_object_size, compress_above and write_queue must not be negative")
	}
}

// printableASCII reports whether s is printable ASCII without spaces.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// natsSubject reports whether s is a NATS subject: dot-separated non-empty
// tokens of printable ASCII; with wildcards, a token may be "*" and the
// last one ">".
func natsSubject(s string, wildcards bool) bool {
	if s == "" || !printableASCII(s) {
		return false
	}
	tokens := strings.Split(s, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return false
		case t == "*" || (t == ">" && i == len(tokens)-1):
			if !wildcards {
				return false
			}
		case strings.ContainsAny(t, "*>"):
			return false
		}
	}
	return true
}
