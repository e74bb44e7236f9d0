package onewrite

import (
	"io"
	"net/http"
	"strconv"
	"testing"
)

// BenchmarkServe16KiB serves a cached-style 16 KiB response over loopback
// to a keep-alive http.Client, through plain net/http and through the
// Listener, and reports raw writes per response.
func BenchmarkServe16KiB(b *testing.B) { benchServe(b, 16<<10) }

// BenchmarkServe1KiB is the control: net/http already sends 1 KiB in one
// write.
func BenchmarkServe1KiB(b *testing.B) { benchServe(b, 1<<10) }

func benchServe(b *testing.B, size int) {
	for _, wrap := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "onewrite"}[wrap], func(b *testing.B) {
			stored := body(size, 0)
			length := strconv.Itoa(size)
			hit := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				h.Set("Content-Type", "application/json")
				h.Set("Content-Length", length)
				h.Set("ETag", `"v1"`)
				h.Set("Cache-Control", "public, max-age=300")
				_, _ = w.Write(stored)
				_ = Flush(w)
			})
			s := startServer(b, hit, wrap, "")
			client := s.Client()
			url := s.URL + "/obj"
			b.ReportAllocs()
			b.SetBytes(int64(size))
			before := s.writes.Load()
			for b.Loop() {
				resp, err := client.Get(url)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			b.ReportMetric(float64(s.writes.Load()-before)/float64(b.N), "writes/op")
		})
	}
}
