package compress

import "testing"

func TestCompressible(t *testing.T) {
	tests := []struct {
		contentType string
		size        int
		want        bool
	}{
		{"application/json", 4096, true},
		{"application/json; charset=utf-8", 4096, true},
		{"Application/JSON", 4096, true},
		{" text/html ; charset=utf-8", 4096, true},
		{"text/plain", 4096, true},
		{"text/css", 4096, true},
		{"text/csv", 4096, true},
		{"text/javascript", 4096, true},
		{"application/javascript", 4096, true},
		{"application/problem+json", 4096, true},
		{"application/vnd.api+json", 4096, true},
		{"application/ld+json", 4096, true},
		{"application/atom+xml", 4096, true},
		{"application/xml", 4096, true},
		{"application/yaml", 4096, true},
		{"application/x-ndjson", 4096, true},
		{"application/wasm", 4096, true},
		{"application/graphql-response+json", 4096, true},
		{"image/svg+xml", 4096, true},
		{"image/x-icon", 4096, true},
		{"font/ttf", 4096, true},
		{"application/json", -1, true},
		{"application/json", MinSize, true},
		{"application/json", MinSize - 1, false},
		{"application/json", 0, false},
		{"text/event-stream", 4096, false},
		{"image/png", 4096, false},
		{"image/jpeg", 4096, false},
		{"image/webp", 4096, false},
		{"video/mp4", 4096, false},
		{"audio/mpeg", 4096, false},
		{"font/woff2", 4096, false},
		{"application/zip", 4096, false},
		{"application/gzip", 4096, false},
		{"application/pdf", 4096, false},
		{"application/octet-stream", 4096, false},
		{"application/vnd.foo+zip", 4096, false},
		{"application/+json", 4096, false},
		{"", 4096, false},
		{"json", 4096, false},
		{"text/", 4096, false},
		{"/json", 4096, false},
	}
	for _, tt := range tests {
		if got := Compressible(tt.contentType, tt.size); got != tt.want {
			t.Errorf("Compressible(%q, %d) = %v, want %v", tt.contentType, tt.size, got, tt.want)
		}
	}
}
