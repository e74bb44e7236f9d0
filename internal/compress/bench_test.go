package compress

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
)

var acceptHeaders = []struct{ name, value string }{
	{"chrome", "gzip, deflate, br, zstd"},
	{"curl", ""},
	{"go", "gzip"},
	{"weighted", "gzip;q=1.0, identity; q=0.5, *;q=0"},
}

func BenchmarkAccepts(b *testing.B) {
	for _, h := range acceptHeaders {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Accepts(h.value, Brotli)
			}
		})
	}
}

func BenchmarkMixObserve(b *testing.B) {
	var m Mix
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			m.Observe(acceptHeaders[i%len(acceptHeaders)].value)
		}
	})
}

func BenchmarkMixChoose(b *testing.B) {
	var m Mix
	observeInterleaved(&m, cohort{browser, 900}, cohort{goClient, 100})
	b.ReportAllocs()
	for b.Loop() {
		m.Choose()
	}
}

func BenchmarkCompressible(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Compressible("application/vnd.api+json; charset=utf-8", 4096)
	}
}

func BenchmarkAddVary(b *testing.B) {
	h := http.Header{"Vary": {"Origin, Accept-Encoding"}}
	b.ReportAllocs()
	for b.Loop() {
		AddVary(h)
	}
}

var benchSizes = []struct {
	name string
	size int
}{{"1KiB", 1 << 10}, {"16KiB", 16 << 10}}

// BenchmarkEncode reports the compression ratio (identity size over coded
// size) of each coding on JSON, beside its speed.
func BenchmarkEncode(b *testing.B) {
	for _, enc := range codings {
		for _, s := range benchSizes {
			b.Run(fmt.Sprintf("%s/%s", enc, s.name), func(b *testing.B) {
				body := jsonLike(s.size)
				coded := mustEncode(b, enc, body)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Encode(enc, body); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(body))/float64(len(coded)), "ratio")
			})
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, enc := range codings {
		for _, s := range benchSizes {
			b.Run(fmt.Sprintf("%s/%s", enc, s.name), func(b *testing.B) {
				body := jsonLike(s.size)
				coded := mustEncode(b, enc, body)
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Decode(enc, coded, 1<<20); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(body))/float64(len(coded)), "ratio")
			})
		}
	}
}

// BenchmarkNewDecoder measures the serve path for a client that does not
// accept the stored coding: stream the decoded bytes to the response.
func BenchmarkNewDecoder(b *testing.B) {
	for _, enc := range codings {
		b.Run(fmt.Sprintf("%s/16KiB", enc), func(b *testing.B) {
			body := jsonLike(16 << 10)
			coded := mustEncode(b, enc, body)
			src := bytes.NewReader(coded)
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(coded)
				d, err := NewDecoder(enc, src)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.CopyBuffer(io.Discard, d, buf); err != nil {
					b.Fatal(err)
				}
				d.Close()
			}
		})
	}
}
