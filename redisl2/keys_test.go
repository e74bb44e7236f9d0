package redisl2

import (
	"strconv"
	"testing"

	"github.com/cespare/xxhash/v2"
)

// TestEntryKeyLayout: entryKey builds the documented layout (see the
// package comment), which entries already stored in Redis are under.
func TestEntryKeyLayout(t *testing.T) {
	c := &Client{prefix: "moat:1:"}
	for _, key := range []string{"", "GET http://a/x", "GET http://a/x\x00tier=gold", "GET http://a/x\x00#3\x00gzip", "\x00"} {
		want := c.prefix + "{" + hashTag(key) + "}:e:" + strconv.FormatUint(xxhash.Sum64String(key), 16)
		if got := c.entryKey(key); got != want {
			t.Errorf("entryKey(%q) = %q; want %q", key, got, want)
		}
	}
}

func BenchmarkEntryKey(b *testing.B) {
	c := &Client{prefix: "moat:1:"}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.entryKey("GET http://api.example/items/1\x00#3\x00gzip")
	}
}
