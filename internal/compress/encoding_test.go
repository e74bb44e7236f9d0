package compress

import "testing"

func TestEncodingString(t *testing.T) {
	tests := []struct {
		enc  Encoding
		want string
	}{
		{Identity, ""},
		{Gzip, "gzip"},
		{Brotli, "br"},
		{Zstd, "zstd"},
		{numEncodings, "Encoding(4)"},
	}
	for _, tt := range tests {
		if got := tt.enc.String(); got != tt.want {
			t.Errorf("Encoding(%d).String() = %q, want %q", uint8(tt.enc), got, tt.want)
		}
	}
}

func TestParseEncoding(t *testing.T) {
	tests := []struct {
		name, value string
		want        Encoding
		wantOK      bool
	}{
		{"absent", "", Identity, true},
		{"identity", "identity", Identity, true},
		{"gzip", "gzip", Gzip, true},
		{"x_gzip", "x-gzip", Gzip, true},
		{"br", "br", Brotli, true},
		{"zstd", "zstd", Zstd, true},
		{"upper_case", "GZip", Gzip, true},
		{"whitespace", " \tbr\t ", Brotli, true},
		{"empty_elements", ", zstd ,,", Zstd, true},
		{"identity_then_coding", "identity, gzip", Gzip, true},
		{"stacked", "gzip, br", Identity, false},
		{"stacked_same", "gzip, gzip", Identity, false},
		{"deflate", "deflate", Identity, false},
		{"compress", "compress", Identity, false},
		{"unknown", "lz4", Identity, false},
		{"parameters", "gzip;q=1", Identity, false},
		{"only_commas", " , ", Identity, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseEncoding(tt.value)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseEncoding(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
