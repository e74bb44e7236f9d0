package compress

import (
	"net/http"
	"testing"
)

// The first cases are the examples of RFC 9110 §12.5.3.
var acceptsTests = []struct {
	name, header                 string
	identity, gzip, brotli, zstd bool
}{
	{name: "rfc_compress_gzip", header: "compress, gzip", identity: true, gzip: true},
	{name: "rfc_empty", header: "", identity: true},
	{name: "rfc_star", header: "*", identity: true, gzip: true, brotli: true, zstd: true},
	{name: "rfc_weights", header: "compress;q=0.5, gzip;q=1.0", identity: true, gzip: true},
	{name: "rfc_identity_weighted_star_refused", header: "gzip;q=1.0, identity; q=0.5, *;q=0", identity: true, gzip: true},
	{name: "br_refused", header: "br;q=0", identity: true},
	{name: "star_refused", header: "*;q=0"},
	{name: "star_refused_identity_listed", header: "*;q=0, identity", identity: true},
	{name: "identity_refused", header: "identity;q=0, gzip", gzip: true},
	{name: "star_except_br", header: "*, br;q=0", identity: true, gzip: true, zstd: true},
	{name: "chrome", header: "gzip, deflate, br, zstd", identity: true, gzip: true, brotli: true, zstd: true},
	{name: "case_insensitive", header: "GZIP;Q=0.5, Br", identity: true, gzip: true, brotli: true},
	{name: "whitespace", header: " \tbr ; q=1 ,\tzstd\t", identity: true, brotli: true, zstd: true},
	{name: "spaces_around_equals", header: "gzip; q = 0", identity: true},
	{name: "x_gzip", header: "x-gzip", identity: true, gzip: true},
	{name: "empty_elements", header: ",, gzip ,,", identity: true, gzip: true},
	{name: "listed_twice_lower_wins", header: "gzip, gzip;q=0", identity: true},
	{name: "smallest_weight", header: "zstd;q=0.001", identity: true, zstd: true},
	{name: "q_above_one_ignored", header: "gzip;q=2", identity: true},
	{name: "q_one_point_one_ignored", header: "gzip;q=1.001", identity: true},
	{name: "q_four_decimals_ignored", header: "gzip;q=0.0001", identity: true},
	{name: "q_empty_ignored", header: "gzip;q=", identity: true},
	{name: "q_without_value_ignored", header: "gzip;q", identity: true},
	{name: "q_trailing_dot", header: "gzip;q=1.", identity: true, gzip: true},
	{name: "malformed_identity_refusal_ignored", header: "identity;q=zero", identity: true},
	{name: "other_parameter_ignored", header: "br;level=11", identity: true, brotli: true},
	{name: "unknown_codings", header: "deflate, compress, lz4", identity: true},
	{name: "empty_token", header: ";q=1", identity: true},
}

func TestAccepts(t *testing.T) {
	for _, tt := range acceptsTests {
		t.Run(tt.name, func(t *testing.T) {
			want := map[Encoding]bool{Identity: tt.identity, Gzip: tt.gzip, Brotli: tt.brotli, Zstd: tt.zstd}
			for enc := range numEncodings {
				if got := Accepts(tt.header, enc); got != want[enc] {
					t.Errorf("Accepts(%q, %q) = %v, want %v", tt.header, enc, got, want[enc])
				}
			}
		})
	}
	if Accepts("*", numEncodings) {
		t.Errorf("Accepts(%q, %v) = true, want false", "*", numEncodings)
	}
}

func TestAcceptEncoding(t *testing.T) {
	tests := []struct {
		name string
		h    http.Header
		want string
	}{
		{"absent", http.Header{}, ""},
		{"one_line", http.Header{"Accept-Encoding": {"gzip, br"}}, "gzip, br"},
		{"two_lines", http.Header{"Accept-Encoding": {"gzip", "br;q=0.5"}}, "gzip,br;q=0.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := AcceptEncoding(tt.h); got != tt.want {
				t.Errorf("AcceptEncoding(%v) = %q, want %q", tt.h, got, tt.want)
			}
		})
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	const chrome = "gzip, deflate, br, zstd"
	var mix Mix
	h := http.Header{"Vary": {"Origin, accept-encoding"}}
	tests := []struct {
		name string
		fn   func()
	}{
		{"Accepts", func() { Accepts("gzip;q=1.0, identity; q=0.5, *;q=0", Brotli) }},
		{"Mix.Observe", func() { mix.Observe(chrome) }},
		{"Mix.Choose", func() { mix.Choose() }},
		{"Compressible", func() { Compressible("application/vnd.api+json; charset=utf-8", 4096) }},
		{"AddVary_present", func() { AddVary(h) }},
		{"ParseEncoding", func() { ParseEncoding("gzip") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
				t.Errorf("%s allocates %v times per call, want 0", tt.name, n)
			}
		})
	}
}
