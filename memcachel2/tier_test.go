package memcachel2

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/tiertest"
	"github.com/moatproxy/moat/internal/compress"
	"github.com/moatproxy/moat/memcachel2/memcachedtest"
)

// testTier returns a tier over servers with a key prefix of its own and a
// Timeout of 1s unless o says; it is closed when the test ends.
func testTier(t testing.TB, o Options, servers ...*memcachedtest.Server) *Tier {
	t.Helper()
	for _, s := range servers {
		o.Servers = append(o.Servers, s.Addr())
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = fmt.Sprintf("t%d:", time.Now().UnixNano())
	}
	if o.Timeout == 0 {
		o.Timeout = time.Second
	}
	tier, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tier.Close() })
	return tier
}

// item returns the bytes an item holds: kind, key, then entry.
func item(kind byte, key string, entry []byte) []byte {
	b := append([]byte{kind}, binary.AppendUvarint(nil, uint64(len(key)))...)
	return append(append(b, key...), entry...)
}

// rawSet stores value under name, bypassing the tier.
func rawSet(t *testing.T, tier *Tier, name string, value []byte) {
	t.Helper()
	if err := tier.mc.Set(&memcache.Item{Key: name, Value: value, Expiration: 3600}); err != nil {
		t.Fatalf("raw set of %s: %v", name, err)
	}
}

func randomBody(n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestForgedItemIsAMiss: an item under one key's name that holds another
// key's entry (a hash collision, or a forgery) is never returned for it,
// compressed or not, however close the two keys are; and it is not deleted
// as corrupt.
func TestForgedItemIsAMiss(t *testing.T) {
	tier := testTier(t, Options{}, memcachedtest.Start(t))
	ctx := context.Background()
	for _, c := range []struct{ asked, stored string }{
		{"GET http://api.example/a", "GET http://api.example/b"},
		{"k", "k\x00"},
		{"k\x00", "k"},
		{"k", "K"},
		{"k", ""},
	} {
		for _, compressed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%q_holding_%q_compressed_%v", c.asked, c.stored, compressed), func(t *testing.T) {
				e := tiertest.FullEntry(t, c.stored, time.Now())
				if compressed {
					e.Body = make([]byte, 4096) // compresses
				}
				tier.compress = 64
				if !compressed {
					tier.compress = -1
				}
				forged, err := tier.encode(c.stored, e)
				if err != nil {
					t.Fatal(err)
				}
				if got := forged[0] == itemZstd; got != compressed {
					t.Fatalf("item compressed = %v, want %v", got, compressed)
				}
				name := tier.itemName(c.asked)
				rawSet(t, tier, name, forged)
				if got, err := tier.Get(ctx, c.asked); got != nil || err != nil {
					t.Fatalf("Get(%q) of an item holding %q's entry = (%v, %v), want (nil, nil)", c.asked, c.stored, got, err)
				}
				if _, err := tier.mc.Get(name); err != nil {
					t.Errorf("the other key's item was deleted (%v): it is not corrupt", err)
				}
			})
		}
	}
}

// TestCorruptItemIsAMissAndDeleted: whatever an item under a key's name
// holds, Get returns (nil, nil) without panicking, reports it as corrupt,
// and deletes it.
func TestCorruptItemIsAMissAndDeleted(t *testing.T) {
	var corrupt []error
	tier := testTier(t, Options{MaxObjectSize: 64 << 10, Observe: func(class string, _ time.Duration, err error) {
		if class == "corrupt" {
			corrupt = append(corrupt, err)
		}
	}}, memcachedtest.Start(t))
	ctx := context.Background()
	const key = "GET http://api.example/corrupt"
	valid := cache.AppendEntry(nil, tiertest.FullEntry(t, key, time.Now()))
	bomb, err := compress.Encode(compress.Zstd, make([]byte, 8*tier.maxRaw))
	if err != nil {
		t.Fatal(err)
	}
	junkZstd, _ := compress.Encode(compress.Zstd, []byte("not an entry"))
	for _, c := range []struct {
		name  string
		value []byte
	}{
		{"empty", nil},
		{"kind_only", []byte{itemRaw}},
		{"unknown_kind", item('x', key, valid)},
		{"key_length_past_the_end", append([]byte{itemRaw}, binary.AppendUvarint(nil, 1<<40)...)},
		{"overlong_key_length", append([]byte{itemRaw}, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01)},
		{"truncated_entry", item(itemRaw, key, valid[:len(valid)-5])},
		{"trailing_bytes", item(itemRaw, key, append(valid[:len(valid):len(valid)], 0))},
		{"no_entry", item(itemRaw, key, nil)},
		{"zstd_junk", item(itemZstd, key, []byte("junk"))},
		{"zstd_not_an_entry", item(itemZstd, key, junkZstd)},
		{"zstd_bomb", item(itemZstd, key, bomb)},
	} {
		t.Run(c.name, func(t *testing.T) {
			corrupt = nil
			name := tier.itemName(key)
			rawSet(t, tier, name, c.value)
			if got, err := tier.Get(ctx, key); got != nil || err != nil {
				t.Fatalf("Get of a corrupt item = (%v, %v), want (nil, nil)", got, err)
			}
			if len(corrupt) != 1 || !errors.Is(corrupt[0], cache.ErrBadEncoding) {
				t.Errorf("Observe(\"corrupt\") got %v, want one error wrapping cache.ErrBadEncoding", corrupt)
			}
			if _, err := tier.mc.Get(name); !errors.Is(err, memcache.ErrCacheMiss) {
				t.Errorf("raw get after Get of a corrupt item: err = %v, want a miss (deleted)", err)
			}
		})
	}
}

func TestExpiration(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const day = 24 * time.Hour
	for _, c := range []struct {
		name      string
		keepUntil time.Time
		want      int32
		ok        bool
	}{
		{"zero", time.Time{}, 0, false},
		{"past", now.Add(-time.Second), 0, false},
		{"now", now, 0, false},
		{"one_nanosecond", now.Add(1), 1, true},
		{"50ms_rounds_up", now.Add(50 * time.Millisecond), 1, true},
		{"one_second", now.Add(time.Second), 1, true},
		{"just_over_a_second", now.Add(time.Second + 1), 2, true},
		{"an_hour", now.Add(time.Hour), 3600, true},
		{"30_days_relative", now.Add(30 * day), maxRelative, true},
		{"past_30_days_absolute", now.Add(30*day + 1), int32(now.Add(30*day).Unix() + 1), true},
		{"40_days_absolute", now.Add(40*day + 500*time.Millisecond), int32(now.Add(40*day).Unix() + 1), true},
		{"after_2038_clamped", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt32, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := expiration(c.keepUntil, now)
			if got != c.want || ok != c.ok {
				t.Errorf("expiration(now%+v) = %d, %v; want %d, %v", c.keepUntil.Sub(now), got, ok, c.want, c.ok)
			}
		})
	}
}

// TestLongExpiry: an entry kept for more than 30 days is stored with an
// absolute expiration, which memcached reads as the same time left (a
// relative count of seconds that large it would read as a Unix time in
// 1970: expired at once).
func TestLongExpiry(t *testing.T) {
	srv := memcachedtest.Start(t)
	tier := testTier(t, Options{}, srv)
	ctx := context.Background()
	const day = 24 * time.Hour
	for _, keep := range []time.Duration{10 * day, 30*day - time.Minute, 30*day + time.Minute, 40 * day, 365 * day} {
		t.Run(fmt.Sprint(keep), func(t *testing.T) {
			key := "GET http://api.example/long/" + keep.String()
			e := tiertest.FullEntry(t, key, time.Now())
			e.KeepUntil = time.Now().Add(keep)
			if err := tier.Set(ctx, key, e); err != nil {
				t.Fatal(err)
			}
			if got, err := tier.Get(ctx, key); err != nil || got == nil {
				t.Fatalf("Get of an entry kept for %v = (%v, %v), want it", keep, got, err)
			}
			ttl := metaTTL(t, srv.Addr(), tier.itemName(key))
			if left := time.Duration(ttl) * time.Second; left < keep-10*time.Second || left > keep+10*time.Second {
				t.Errorf("memcached keeps the item for %v, want %v", left, keep)
			}
		})
	}
}

// metaTTL asks memcached for an item's seconds left, with a meta get (flag
// t), which gomemcache does not speak.
func metaTTL(t *testing.T, addr, name string) int64 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := fmt.Fprintf(c, "mg %s t\r\n", name); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var ttl int64
	if _, err := fmt.Sscanf(line, "HD t%d", &ttl); err != nil {
		t.Fatalf("mg %s t answered %q", name, line)
	}
	return ttl
}

// TestItemSizeLimits: an item of exactly MaxObjectSize (the default, 1 MiB
// less 512 bytes) is stored by a memcached with its default -I 1m, one a
// byte larger is refused by the tier; and an item that memcached refuses
// because MaxObjectSize was set above its -I is cache.ErrTooLarge too.
func TestItemSizeLimits(t *testing.T) {
	srv := memcachedtest.Start(t)
	ctx := context.Background()
	tier := testTier(t, Options{CompressAbove: -1}, srv)
	const key = "GET http://api.example/limit"
	e := tiertest.FullEntry(t, key, time.Now())
	// The item is the body and an overhead that grows by a byte or two
	// with the body's length: measure it, and correct once more.
	n := 1000
	for range 3 {
		e.Body = randomBody(n)
		size := len(item(itemRaw, key, cache.AppendEntry(nil, e)))
		if size == defaultMaxObjectSize {
			break
		}
		n += defaultMaxObjectSize - size
	}
	if v, err := tier.encode(key, e); err != nil || len(v) != defaultMaxObjectSize {
		t.Fatalf("no body makes an item of exactly %d bytes (last: %d, %v)", defaultMaxObjectSize, len(v), err)
	}
	if err := tier.Set(ctx, key, e); err != nil {
		t.Fatalf("Set of an item of MaxObjectSize: %v", err)
	}
	if got, err := tier.Get(ctx, key); err != nil || got == nil || len(got.Body) != len(e.Body) {
		t.Fatalf("Get of an item of MaxObjectSize = (%v, %v), want it", got, err)
	}
	e.Body = append(e.Body, 0)
	if err := tier.Set(ctx, key, e); !errors.Is(err, cache.ErrTooLarge) {
		t.Fatalf("Set of an item a byte over MaxObjectSize: err = %v, want cache.ErrTooLarge", err)
	}

	over := testTier(t, Options{MaxObjectSize: 2 << 20, CompressAbove: -1}, srv)
	e.Body = randomBody(1536 << 10)
	if err := over.Set(ctx, key, e); !errors.Is(err, cache.ErrTooLarge) {
		t.Fatalf("Set of 1.5 MiB into a memcached -I 1m: err = %v, want cache.ErrTooLarge", err)
	}
	if got, err := over.Get(ctx, key); got != nil || err != nil {
		t.Fatalf("Get after memcached refused the item = (%v, %v), want (nil, nil)", got, err)
	}
}

// TestItemName: an item's name is the prefix, the format version and the
// key's SHA-256 in unpadded base64url, a legal memcached key (at most 250
// printable bytes) for any key and the longest prefix New accepts.
func TestItemName(t *testing.T) {
	for _, prefix := range []string{"", strings.Repeat("p", maxKeyPrefix)} {
		tier, err := New(Options{Servers: []string{"cache-1:11211"}, KeyPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]string{}
		for _, key := range tiertest.DistinctKeys() {
			name := tier.itemName(key)
			sum := sha256.Sum256([]byte(key))
			if want := tier.prefix + base64.RawURLEncoding.EncodeToString(sum[:]); name != want {
				t.Errorf("itemName(%q) = %q, want %q", key, name, want)
			}
			if len(name) > 250 || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
				t.Errorf("itemName(%q) = %q: not a legal memcached key", key, name)
			}
			if other, ok := seen[name]; ok && other != key { // DistinctKeys lists "ké" twice
				t.Errorf("keys %q and %q have the same item name", key, other)
			}
			seen[name] = key
		}
		if want := cmp.Or(prefix, defaultKeyPrefix) + formatVersion + ":"; tier.prefix != want {
			t.Errorf("prefix %q, want %q", tier.prefix, want)
		}
		tier.Close()
	}
}
