package cachekey

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

func benchmarkNormalize(b *testing.B, target string) {
	n, err := NewNormalizer(Options{})
	if err != nil {
		b.Fatal(err)
	}
	rules, err := n.CompileParams(Params{Defaults: map[string]string{"page": "1", "sort": "relevance"}, Strip: []string{"debug*"}})
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		n.Normalize(u, rules)
	}
}

func BenchmarkNormalize(b *testing.B) {
	b.Run("canonical_0_params", func(b *testing.B) { benchmarkNormalize(b, "/api/products/42") })
	b.Run("canonical_3_params", func(b *testing.B) { benchmarkNormalize(b, "/api/products?category=shoes&page=2&sort=price") })
	b.Run("messy_3_params", func(b *testing.B) {
		benchmarkNormalize(b, "/api/products?sort=price&utm_source=x&page=%32&category=shoes&fbclid=IwAR0123")
	})
	b.Run("messy_path", func(b *testing.B) { benchmarkNormalize(b, "/api/./products/%7euser/../42") })
}

func BenchmarkKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Key("GET", "https", "API.example.com:443", "/api/products", "category=shoes&page=2&sort=price")
	}
}

// BenchmarkKeyPath is the whole primary-key path of a canonical request:
// Normalize then Key.
func BenchmarkKeyPath(b *testing.B) {
	n, _ := NewNormalizer(Options{})
	u, _ := url.ParseRequestURI("/api/products?category=shoes&page=2&sort=price")
	b.ReportAllocs()
	for b.Loop() {
		path, query, _ := n.Normalize(u, nil)
		Key("GET", "https", "api.example.com", path, query)
	}
}

func BenchmarkLanguage(b *testing.B) {
	supported := []string{"en", "de", "fr"}
	b.ReportAllocs()
	for b.Loop() {
		Language("de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", supported)
	}
}

func BenchmarkMediaType(b *testing.B) {
	supported := []string{"application/json", "text/html"}
	b.ReportAllocs()
	for b.Loop() {
		MediaType("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", supported)
	}
}

func BenchmarkHeaderValue(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		HeaderValue("Gzip, Deflate, BR")
	}
}

// BenchmarkRequestKey is the key of the request as it arrives, for
// comparison with BenchmarkKeyPath.
func BenchmarkRequestKey(b *testing.B) {
	r := httptest.NewRequest("GET", "http://api.example.com/api/products?category=shoes&page=2&sort=price", nil)
	b.ReportAllocs()
	for b.Loop() {
		RequestKey(r)
	}
}
