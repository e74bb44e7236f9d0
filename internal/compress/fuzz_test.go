package compress

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// toUpperASCII upper-cases ASCII letters only: tokens and "q" are
// case-insensitive, so the results must not change.
func toUpperASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - ('a' - 'A')
		}
		return r
	}, s)
}

func FuzzAccepts(f *testing.F) {
	for _, tt := range acceptsTests {
		f.Add(tt.header)
	}
	for _, s := range []string{"br;q=0.5;q=0", "*;q=0.", "gzip;q=1.0000", ";;;,,,", "\x00\xff;q=\x80", "identity;q=0, *"} {
		f.Add(s)
	}
	all := []Encoding{Identity, Gzip, Brotli, Zstd}
	f.Fuzz(func(t *testing.T, header string) {
		upper := toUpperASCII(header)
		for _, enc := range all {
			accepted := Accepts(header, enc)
			if Accepts(upper, enc) != accepted {
				t.Errorf("Accepts(%q, %q) = %v but %v for %q", header, enc, accepted, !accepted, upper)
			}
		}
		var m Mix
		m.Observe(header)
		if s := m.Stats(); s.Observed != 1 || s.Brotli > 1 || s.Zstd > 1 || s.Gzip > 1 {
			t.Errorf("Stats after one Observe(%q) = %+v", header, s)
		}
	})
}

func FuzzParseEncoding(f *testing.F) {
	for _, s := range []string{"", "gzip", "x-gzip", "br", "zstd", "identity", "gzip, br", " , zstd ,", "deflate", "GZIP"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		enc, ok := ParseEncoding(value)
		if upperEnc, upperOK := ParseEncoding(toUpperASCII(value)); upperEnc != enc || upperOK != ok {
			t.Errorf("ParseEncoding(%q) = %v, %v but %v, %v upper-cased", value, enc, ok, upperEnc, upperOK)
		}
		if !ok {
			return
		}
		if again, againOK := ParseEncoding(enc.String()); again != enc || !againOK {
			t.Errorf("ParseEncoding(%q) = %q, which parses back as %q, %v", value, enc, again, againOK)
		}
	})
}

func FuzzCompressible(f *testing.F) {
	for _, s := range []string{"application/json", "text/html; charset=utf-8", "image/svg+xml", "image/png", "", "/", "a/+json"} {
		f.Add(s, 4096)
	}
	f.Fuzz(func(t *testing.T, contentType string, size int) {
		got := Compressible(contentType, size)
		if Compressible(toUpperASCII(contentType), size) != got {
			t.Errorf("Compressible(%q, %d) = %v, but not upper-cased", contentType, size, got)
		}
		if got && size >= 0 && size < MinSize {
			t.Errorf("Compressible(%q, %d) = true below MinSize", contentType, size)
		}
	})
}

func FuzzDecode(f *testing.F) {
	const limit = 64 << 10
	for _, enc := range codings {
		for _, body := range [][]byte{nil, []byte("hello, world"), jsonLike(2048)} {
			coded, err := Encode(enc, body)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(uint8(enc), coded)
			f.Add(uint8(enc), coded[:len(coded)/2])
		}
		bomb, err := Encode(enc, make([]byte, 4*limit))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(enc), bomb)
	}
	f.Add(uint8(Identity), []byte("plain"))
	f.Add(uint8(Gzip), []byte("\x1f\x8b\x08\x00garbage"))
	f.Fuzz(func(t *testing.T, encByte uint8, data []byte) {
		enc := Encoding(encByte % uint8(numEncodings))
		got, err := Decode(enc, data, limit)
		if err != nil {
			return
		}
		if len(got) > limit {
			t.Fatalf("Decode(%q) returned %d bytes, above its limit of %d", enc, len(got), limit)
		}
		d, err := NewDecoder(enc, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Decode(%q) succeeded but NewDecoder failed: %v", enc, err)
		}
		defer d.Close()
		streamed, err := io.ReadAll(io.LimitReader(d, limit+1))
		if err != nil {
			t.Fatalf("Decode(%q) succeeded but the stream failed: %v", enc, err)
		}
		if !bytes.Equal(streamed, got) {
			t.Fatalf("Decode(%q) returned %d bytes, the stream %d different ones", enc, len(got), len(streamed))
		}
	})
}
