package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

var codings = []Encoding{Gzip, Brotli, Zstd}

func mustEncode(t testing.TB, enc Encoding, body []byte) []byte {
	t.Helper()
	out, err := Encode(enc, body)
	if err != nil {
		t.Fatalf("Encode(%q, %d bytes): %v", enc, len(body), err)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	bodies := map[string]func(int) []byte{"random": randomBytes, "json": jsonLike}
	for _, enc := range append([]Encoding{Identity}, codings...) {
		for _, size := range []int{0, 1, 1 << 10, 1 << 20} {
			for kind, gen := range bodies {
				t.Run(fmt.Sprintf("%s/%s/%d", enc, kind, size), func(t *testing.T) {
					body := gen(size)
					coded := mustEncode(t, enc, body)
					if kind == "json" && size >= 1<<10 && enc != Identity && len(coded) >= len(body)/2 {
						t.Errorf("Encode(%q) of %d JSON bytes = %d bytes, want less than half", enc, size, len(coded))
					}

					got, err := Decode(enc, coded, int64(size))
					if err != nil {
						t.Fatalf("Decode: %v", err)
					}
					if !bytes.Equal(got, body) {
						t.Fatalf("Decode returned %d bytes that differ from the %d encoded", len(got), len(body))
					}

					d, err := NewDecoder(enc, bytes.NewReader(coded))
					if err != nil {
						t.Fatalf("NewDecoder: %v", err)
					}
					streamed, err := io.ReadAll(d)
					if err != nil {
						t.Fatalf("reading the NewDecoder stream: %v", err)
					}
					if err := d.Close(); err != nil {
						t.Fatalf("Close: %v", err)
					}
					if !bytes.Equal(streamed, body) {
						t.Fatalf("NewDecoder streamed %d bytes that differ from the %d encoded", len(streamed), len(body))
					}
				})
			}
		}
	}
}

// Clients decode with other implementations: the standard library stands
// in for them for gzip.
func TestGzipInterop(t *testing.T) {
	body := jsonLike(64 << 10)
	zr, err := stdgzip.NewReader(bytes.NewReader(mustEncode(t, Gzip, body)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("compress/gzip read %d bytes, %v; want the %d encoded", len(got), err, len(body))
	}

	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	zw.Write(body)
	zw.Close()
	if got, err := Decode(Gzip, buf.Bytes(), int64(len(body))); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("Decode of compress/gzip output = %d bytes, %v; want the %d encoded", len(got), err, len(body))
	}
}

// RFC 9659: browsers refuse zstd windows above 8 MiB, and a body stored in
// one single-segment frame would declare its whole size as the window.
func TestZstdWindowFitsRFC9659(t *testing.T) {
	body := bytes.Repeat(jsonLike(1<<20), 9)
	coded := mustEncode(t, Zstd, body)
	var h zstd.Header
	if err := h.Decode(coded); err != nil {
		t.Fatal(err)
	}
	if h.WindowSize > zstdMaxWindow {
		t.Errorf("window of a %d-byte body = %d, want at most %d", len(body), h.WindowSize, zstdMaxWindow)
	}
	if got, err := Decode(Zstd, coded, int64(len(body))); err != nil || !bytes.Equal(got, body) {
		t.Errorf("Decode = %d bytes, %v; want the %d encoded", len(got), err, len(body))
	}
}

func TestDecodeLimit(t *testing.T) {
	body := jsonLike(10 << 10)
	for _, enc := range append([]Encoding{Identity}, codings...) {
		t.Run(enc.String(), func(t *testing.T) {
			coded := mustEncode(t, enc, body)
			if _, err := Decode(enc, coded, int64(len(body))); err != nil {
				t.Errorf("Decode with maxSize = size: %v, want nil", err)
			}
			if _, err := Decode(enc, coded, int64(len(body)-1)); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Decode with maxSize = size-1: %v, want ErrTooLarge", err)
			}
			if _, err := Decode(enc, coded, -1); !errors.Is(err, ErrTooLarge) {
				t.Errorf("Decode with negative maxSize: %v, want ErrTooLarge", err)
			}
		})
	}
}

// A bomb of 16 MiB or more of zeros weighs a few kilobytes coded. Decode
// must stop at its limit without materializing the output.
func TestDecodeBomb(t *testing.T) {
	const limit = 1 << 20
	for _, enc := range codings {
		t.Run(enc.String(), func(t *testing.T) {
			bomb := zeroBomb(t, enc, 64<<20)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := Decode(enc, bomb, limit)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Decode of a %d-byte bomb: %v, want ErrTooLarge", len(bomb), err)
			}
			allocated := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte bomb: Decode allocated %d KiB", len(bomb), allocated>>10)
			// The decoder's own window (4 MiB for this brotli stream) is not
			// output; 16 MiB would be.
			if allocated > 12<<20 {
				t.Errorf("Decode allocated %d MiB for a %d MiB limit", allocated>>20, limit>>20)
			}
		})
	}
}

// zeroBomb returns size zero bytes coded with enc. gzip members and zstd
// frames concatenate (RFC 1952 §2.2, RFC 8878 §3), which builds a large bomb
// cheaply; brotli streams do not, so its bomb is smaller: 16 MiB.
func zeroBomb(t *testing.T, enc Encoding, size int) []byte {
	if enc == Brotli {
		return mustEncode(t, enc, make([]byte, min(size, 16<<20)))
	}
	member := mustEncode(t, enc, make([]byte, 1<<20))
	return bytes.Repeat(member, size>>20)
}

func TestSizeHintForgedGzipTrailer(t *testing.T) {
	forged := mustEncode(t, Gzip, []byte("tiny"))
	forged[len(forged)-4], forged[len(forged)-3], forged[len(forged)-2], forged[len(forged)-1] = 0xff, 0xff, 0xff, 0xff
	if hint := sizeHint(Gzip, forged, 1<<40); hint > 1032*len(forged) {
		t.Errorf("sizeHint of a forged %d-byte stream = %d, want at most %d", len(forged), hint, 1032*len(forged))
	}
	if _, err := Decode(Gzip, forged, 1<<30); err == nil {
		t.Errorf("Decode of a stream with a forged ISIZE: nil error, want a checksum error")
	}
}

func TestDecodeCorrupt(t *testing.T) {
	body := jsonLike(8 << 10)
	for _, enc := range codings {
		coded := mustEncode(t, enc, body)
		flipped := bytes.Clone(coded)
		flipped[len(flipped)/2] ^= 0xff
		inputs := map[string][]byte{
			"truncated": coded[:len(coded)/2],
			"no_end":    coded[:len(coded)-1],
			"garbage":   []byte("this is not compressed at all"),
			"flipped":   flipped,
		}
		if enc != Zstd {
			inputs["empty"] = []byte{} // zstd reads no input as no frames: empty output
		}
		for name, input := range inputs {
			t.Run(enc.String()+"/"+name, func(t *testing.T) {
				if got, err := Decode(enc, input, 1<<20); err == nil && bytes.Equal(got, body) {
					t.Errorf("Decode of %s input returned the original body", name)
				} else if err == nil && name != "flipped" {
					t.Errorf("Decode of %s input = %d bytes, nil error; want an error", name, len(got))
				}
				d, err := NewDecoder(enc, bytes.NewReader(input))
				if err != nil {
					return // gzip checks its header up front
				}
				defer d.Close()
				if _, err := io.ReadAll(d); err == nil && name != "flipped" {
					t.Errorf("reading %s input from NewDecoder: nil error, want one", name)
				}
			})
		}
	}
}

func TestUnknownEncoding(t *testing.T) {
	bad := numEncodings
	if _, err := Encode(bad, []byte("x")); !errors.Is(err, ErrUnknownEncoding) {
		t.Errorf("Encode: %v, want ErrUnknownEncoding", err)
	}
	if _, err := Decode(bad, []byte("x"), 10); !errors.Is(err, ErrUnknownEncoding) {
		t.Errorf("Decode: %v, want ErrUnknownEncoding", err)
	}
	if _, err := NewDecoder(bad, bytes.NewReader(nil)); !errors.Is(err, ErrUnknownEncoding) {
		t.Errorf("NewDecoder: %v, want ErrUnknownEncoding", err)
	}
}

func TestNewDecoderClose(t *testing.T) {
	for _, enc := range codings {
		t.Run(enc.String(), func(t *testing.T) {
			d, err := NewDecoder(enc, bytes.NewReader(mustEncode(t, enc, jsonLike(4096))))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(d, make([]byte, 100)); err != nil {
				t.Fatal(err)
			}
			if err := d.Close(); err != nil {
				t.Errorf("first Close: %v", err)
			}
			if err := d.Close(); err != nil {
				t.Errorf("second Close: %v, want nil", err)
			}
			if _, err := d.Read(make([]byte, 10)); !errors.Is(err, ErrClosed) {
				t.Errorf("Read after Close: %v, want ErrClosed", err)
			}
		})
	}
}

// Pooled encoders and decoders must carry no state from one use to the
// next, including after an error and after a reader is abandoned halfway.
func TestPoolReuse(t *testing.T) {
	for _, enc := range codings {
		t.Run(enc.String(), func(t *testing.T) {
			for i := range 20 {
				body := jsonLike(1000 + i*997)
				coded := mustEncode(t, enc, body)
				if i%3 == 0 {
					Decode(enc, []byte("garbage"), 100)
				}
				if i%4 == 0 {
					d, err := NewDecoder(enc, bytes.NewReader(coded))
					if err != nil {
						t.Fatal(err)
					}
					d.Read(make([]byte, 10))
					d.Close()
				}
				got, err := Decode(enc, coded, int64(len(body)))
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("round %d: Decode = %d bytes, %v; want the %d encoded", i, len(got), err, len(body))
				}
			}
		})
	}
}

func TestCodecsConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 30 {
				enc := codings[(g+i)%len(codings)]
				body := jsonLike(512 + (g*31+i)*257)
				coded, err := Encode(enc, body)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := Decode(enc, coded, int64(len(body)))
				if err != nil || !bytes.Equal(got, body) {
					t.Errorf("%s: Decode = %d bytes, %v; want the %d encoded", enc, len(got), err, len(body))
					return
				}
			}
		})
	}
	wg.Wait()
}
