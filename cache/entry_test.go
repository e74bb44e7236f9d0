package cache

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// entryShape describes a stored response for TestSizeIsHonest.
type entryShape struct {
	body, fields, tags int
	uniqueTags         bool // tags of this entry alone, rather than shared by all
}

var shapeFields = []string{
	"Content-Type: application/json; charset=utf-8",
	"Cache-Control: public, max-age=600",
	"Date: Mon, 02 Jan 2026 15:04:%02d GMT",
	"Etag: \"%016x\"",
	"Last-Modified: Mon, 02 Jan 2026 15:04:05 GMT",
	"X-Request-Id: %032x",
	"Vary: Accept-Encoding",
	"Server: origin/1.0",
	"X-Frame-Options: DENY",
	"Strict-Transport-Security: max-age=31536000",
}

// shapedEntry builds entry number i of shape s the way the gateway does:
// the header is parsed by net/http (interned common names, one string per
// value) and copied with value slices clipped to len == cap, the tags are
// fields of one Surrogate-Key line, and the key is about 70 bytes.
func shapedEntry(i int, s entryShape, now time.Time) *Entry {
	var b strings.Builder
	b.WriteString("HTTP/1.1 200 OK\r\n")
	for _, f := range shapeFields[:s.fields] {
		if strings.Contains(f, "%") {
			f = fmt.Sprintf(f, i%60)
		}
		b.WriteString(f + "\r\n")
	}
	if s.tags > 0 {
		b.WriteString("Surrogate-Key:")
		for j := range s.tags {
			if s.uniqueTags {
				fmt.Fprintf(&b, " item:%d:%d", i, j)
			} else {
				fmt.Fprintf(&b, " list-%02d", j)
			}
		}
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(b.String())), nil)
	if err != nil {
		panic(err)
	}
	e := &Entry{
		Key:    fmt.Sprintf("GET http://api.example.com/api/products/%08d?lang=en&page=2&sort=asc", i),
		Route:  "GET /api/products/{id}",
		Status: 200, Header: make(http.Header, len(resp.Header)), Body: make([]byte, s.body),
		ResponseTime: now, Lifetime: time.Hour, KeepUntil: now.Add(time.Hour),
	}
	for k, v := range resp.Header {
		if k == "Surrogate-Key" {
			for _, line := range v {
				e.Tags = append(e.Tags, strings.Fields(line)...)
			}
			continue
		}
		e.Header[k] = append([]string(nil), v...)[:len(v):len(v)]
	}
	e.ETag, e.LastModified = e.Header.Get("Etag"), e.Header.Get("Last-Modified")
	return e
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC() // the second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestSizeIsHonest fills a Memory tier (with a TagIndex fed by its
// removals, as the server wires them) several times over with entries of
// one shape, and compares the heap it then holds with the bytes it
// accounts: Size must neither understate the cost (the process would
// outgrow cache.memory) nor overstate it much (the budget would hold less
// than it could). The bounds come from measurement on amd64; tagged shapes
// get a wider lower bound because a Go map's fill varies between 7/16 and
// 7/8 with its length.
func TestSizeIsHonest(t *testing.T) {
	if testing.Short() {
		t.Skip("fills 16 MiB several times per shape")
	}
	const budget = 16 << 20
	tests := []struct {
		name     string
		shape    entryShape
		min, max float64
	}{
		{"body_1k_8_fields", entryShape{body: 1024, fields: 8}, 0.85, 1.05},
		{"body_16_3_fields", entryShape{body: 16, fields: 3}, 0.85, 1.05},
		{"empty", entryShape{}, 0.85, 1.05},
		{"body_16k_10_fields", entryShape{body: 16 << 10, fields: 10}, 0.9, 1.05},
		{"body_1k_64_shared_tags", entryShape{body: 1024, fields: 8, tags: 64}, 0.7, 1.05},
		{"body_1k_64_unique_tags", entryShape{body: 1024, fields: 8, tags: 64, uniqueTags: true}, 0.8, 1.1},
		{"body_1k_4_unique_tags", entryShape{body: 1024, fields: 8, tags: 4, uniqueTags: true}, 0.85, 1.05},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now()
			idx := NewTagIndex(0)
			before := heapInUse()
			m, err := NewMemory(MemoryOptions{MaxBytes: budget, OnRemove: func(k string, e *Entry) { idx.Remove(k, e) }})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			n := 3 * budget / shapedEntry(0, tt.shape, now).Size()
			for i := range n {
				e := shapedEntry(i, tt.shape, now)
				if err := idx.Add(e.Key, e); err != nil {
					t.Fatal(err)
				}
				if err := m.Set(ctx, e.Key, e); err != nil {
					t.Fatal(err)
				}
			}
			m.c.CleanUp()
			grown := float64(heapInUse()) - float64(before)
			st := m.Stats()
			if st.Evictions == 0 {
				t.Fatalf("no evictions after %d entries: the tier was not filled", n)
			}
			ratio := grown / float64(st.Bytes)
			t.Logf("entries %d, heap %.0f B/entry, accounted %.0f B/entry, heap/accounted %.3f",
				st.Entries, grown/float64(st.Entries), float64(st.Bytes)/float64(st.Entries), ratio)
			if ratio < tt.min || ratio > tt.max {
				t.Errorf("heap growth / accounted bytes = %.3f, want within [%.2f, %.2f]", ratio, tt.min, tt.max)
			}
			runtime.KeepAlive(idx)
		})
	}
}

// entryOverhead assumes an Entry struct in the 352-byte size class; a field
// added past it makes Size understate every entry.
func TestEntryStructFitsOverhead(t *testing.T) {
	if got := allocSize(int(unsafe.Sizeof(Entry{}))); got > 352 {
		t.Errorf("Entry takes %d bytes (size class %d); raise entryOverhead", unsafe.Sizeof(Entry{}), got)
	}
}

// sizeClasses are the Go allocator's size classes up to 32 KiB, as listed
// in internal/runtime/gc.SizeClassToSize.
var sizeClasses = []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672, 32768}

func TestAllocSize(t *testing.T) {
	for n := 16; n <= 32768; n++ {
		i := slices.IndexFunc(sizeClasses, func(c int) bool { return c >= n })
		if got, want := allocSize(n), sizeClasses[i]; got != want {
			t.Fatalf("allocSize(%d) = %d, want the size class %d", n, got, want)
		}
	}
	tests := []struct{ n, want int }{{0, 0}, {7, 7}, {15, 15}, {32769, 40960}, {1 << 20, 1 << 20}}
	for _, tt := range tests {
		if got := allocSize(tt.n); got != tt.want {
			t.Errorf("allocSize(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func BenchmarkEntrySize(b *testing.B) {
	e := shapedEntry(1, entryShape{body: 1024, fields: 8, tags: 8}, time.Now())
	b.ReportAllocs()
	for b.Loop() {
		if e.Size() == 0 {
			b.Fatal("zero size")
		}
	}
}
