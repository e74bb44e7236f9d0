package httpcache

import (
	"net/http"
	"testing"
	"time"
)

func BenchmarkParseResponseDirectives(b *testing.B) {
	benchmarks := []struct {
		name string
		cc   string
	}{
		{"typical", "public, max-age=300"},
		{"api", "public, max-age=60, s-maxage=300, stale-while-revalidate=30, stale-if-error=86400"},
		{"private", "private, no-cache, no-store, must-revalidate"},
		{"qualified", `no-cache="Set-Cookie", max-age=60`},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			h := http.Header{"Cache-Control": {bm.cc}}
			b.ReportAllocs()
			for b.Loop() {
				ParseResponseDirectives(h)
			}
		})
	}
}

func BenchmarkParseRequestDirectives(b *testing.B) {
	h := http.Header{"Cache-Control": {"max-age=0, max-stale"}}
	b.ReportAllocs()
	for b.Loop() {
		ParseRequestDirectives(h)
	}
}

func BenchmarkFreshnessLifetime(b *testing.B) {
	benchmarks := []struct {
		name string
		h    http.Header
	}{
		{"max_age", http.Header{"Cache-Control": {"public, max-age=300"}}},
		{"expires", http.Header{"Date": {httpDate(t0)}, "Expires": {httpDate(t0.Add(time.Hour))}}},
		{"expires_invalid", http.Header{"Expires": {"0"}}},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			d := ParseResponseDirectives(bm.h)
			b.ReportAllocs()
			for b.Loop() {
				FreshnessLifetime(bm.h, d, t0)
			}
		})
	}
}

func BenchmarkInitialAge(b *testing.B) {
	h := http.Header{"Age": {"12"}, "Date": {httpDate(t0)}}
	b.ReportAllocs()
	for b.Loop() {
		InitialAge(h, t0, t0.Add(time.Second))
	}
}

func BenchmarkStorable(b *testing.B) {
	h := http.Header{"Cache-Control": {"public, max-age=300"}, "Vary": {"Accept-Encoding"}}
	in := StoreInput{Method: http.MethodGet, Status: 200, RespDirectives: ParseResponseDirectives(h), RespHeader: h}
	b.ReportAllocs()
	for b.Loop() {
		Storable(in)
	}
}

func BenchmarkNotModified(b *testing.B) {
	h := http.Header{"If-None-Match": {`"v0", W/"v1", "v2"`}}
	b.ReportAllocs()
	for b.Loop() {
		NotModified(h, `"v2"`, "", "")
	}
}

func BenchmarkAppendCacheStatus(b *testing.B) {
	s := Status{Fwd: "stale", FwdStatus: 304, TTL: 30, HasTTL: true, Key: "GET https://api.example.com/books/1"}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendCacheStatus(buf[:0], "moat", s)
	}
}
