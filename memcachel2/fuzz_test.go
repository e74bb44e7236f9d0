package memcachel2

import (
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/tiertest"
)

// FuzzDecode: whatever an item holds, decode does not panic, returns an
// entry only for the key the item names, and an entry it returns encodes
// back to an item that decodes to the same entry.
func FuzzDecode(f *testing.F) {
	tier := &Tier{maxObj: 64 << 10, maxRaw: 256 << 10, compress: 32}
	const key = "GET http://api.example/fuzz\x00v1"
	e := tiertest.FullEntry(f, key, time.Unix(1_700_000_000, 0))
	raw, err := tier.encode(key, e)
	if err != nil {
		f.Fatal(err)
	}
	tier.compress = -1
	plain, err := tier.encode(key, e)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(plain)
	f.Add(item(itemRaw, "other", cache.AppendEntry(nil, e)))
	f.Add([]byte{})
	f.Add([]byte("r\x00"))
	f.Fuzz(func(t *testing.T, v []byte) {
		got, err := tier.decode(key, v)
		if err != nil || got == nil {
			return
		}
		again, err := tier.encode(key, got)
		if err != nil {
			return // larger than the limits once re-encoded: not a failure
		}
		back, err := tier.decode(key, again)
		if err != nil || back == nil {
			t.Fatalf("an entry decode returned does not survive a round trip: %v", err)
		}
		if d := tiertest.Diff(got, back); d != "" {
			t.Fatalf("round trip changed the entry:\n%s", d)
		}
	})
}
