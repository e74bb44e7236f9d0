package onewrite

import (
	"fmt"
	"net/http"
	"testing"
)

// TestWritesPerResponse counts write and writev calls on the raw
// connection: net/http alone needs 2 at 16 KiB (its 4 KiB bufio spills),
// the Listener 1, with or without the handler's Flush.
func TestWritesPerResponse(t *testing.T) {
	tests := []struct {
		name  string
		wrap  bool
		size  int
		flush string
		want  int64
	}{
		{"plain_16KiB", false, 16 << 10, "1", 2},
		{"onewrite_16KiB_flush", true, 16 << 10, "1", 1},
		{"onewrite_16KiB_return", true, 16 << 10, "0", 1},
		{"plain_1KiB", false, 1 << 10, "1", 1},
		{"onewrite_1KiB_flush", true, 1 << 10, "1", 1},
		{"onewrite_1KiB_return", true, 1 << 10, "0", 1},
		{"onewrite_30KiB_flush", true, 30 << 10, "1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, testMux(), tt.wrap, "")
			client := s.Client()
			const requests = 3
			for i := range requests {
				resp, b := get(t, client, fmt.Sprintf("%s/obj?n=%d&seed=%d&flush=%s", s.URL, tt.size, i, tt.flush))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status: got %d, want 200", resp.StatusCode)
				}
				checkBody(t, b, tt.size, i)
			}
			if got, want := s.writes.Load(), tt.want*requests; got != want {
				t.Errorf("writes for %d responses: got %d, want %d", requests, got, want)
			}
		})
	}
}

// TestLargeWriteIsOneWritev checks that a write that does not fit leaves
// at once with what is buffered: headers + 100 KiB body in one writev.
func TestLargeWriteIsOneWritev(t *testing.T) {
	s := startServer(t, testMux(), true, "")
	resp, b := get(t, s.Client(), s.URL+"/obj?n=102400&seed=3&flush=0")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status: got %d, want 200", resp.StatusCode)
	}
	checkBody(t, b, 100<<10, 3)
	// net/http: headers+first 4 KiB in its bufio (write 1 into the buffer),
	// the rest as one 96 KiB write: buffered bytes + it in one writev.
	if got := s.writes.Load(); got != 1 {
		t.Errorf("writes: got %d, want 1", got)
	}
}
