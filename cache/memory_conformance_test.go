package cache_test

import (
	"testing"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/tiertest"
)

func TestMemoryConformance(t *testing.T) {
	const maxBytes = 64 << 20
	tiertest.RunWith(t, func(t *testing.T) cache.Tier {
		m, err := cache.NewMemory(cache.MemoryOptions{MaxBytes: maxBytes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}, tiertest.Options{
		SharesEntries: true,
		// MaxObjectSize defaults to MaxBytes/8, compared with Entry.Size,
		// which a body of that many bytes exceeds.
		TooLargeBody: maxBytes / 8,
	})
}

func TestSharedMemoryConformance(t *testing.T) {
	const maxBytes = 64 << 20
	tiertest.RunWith(t, func(t *testing.T) cache.Tier {
		m, err := cache.NewSharedMemory(cache.MemoryOptions{MaxBytes: maxBytes})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}, tiertest.Options{TooLargeBody: maxBytes / 8})
}
