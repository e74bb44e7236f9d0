package compress

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compression levels. An entry is compressed once, at store time, and served
// many times, so the levels lean towards ratio; but the store happens on a
// miss, so none is a slow maximum level (brotli 11 compresses JSON at
// 0.2-0.3 MB/s). Measured on the JSON of the benchmarks, 16 KiB and 256 KiB:
//
//	gzip 6   ratio 3.89 / 4.51   gzip 9 gains 4-8% for 1-10× the time
//	br 6     ratio 4.29 / 5.02   br 5 is no faster; br 7 gains 2% for twice the time
//	zstd 3   ratio 3.98 / 4.72   zstd "better" gains 1-5% for 3× the encoder memory
//
// BenchmarkEncode and BenchmarkDecode report ratio and speed per coding.
const (
	gzipLevel     = 6                 // zlib's default
	brotliQuality = 6                 // the knee of brotli's curve
	zstdLevel     = zstd.SpeedDefault // zstd level 3: 1.3 MB of tables per concurrent Encode, against 4 MB for the next level
	zstdMaxWindow = 8 << 20           // RFC 9659 §3: the zstd content coding uses at most an 8 MiB window
	maxPooledBuf  = 1 << 20           // larger scratch buffers are left to the garbage collector
)

// Encode returns body compressed with enc, in a new slice sized to fit, for
// storing. Identity returns body itself. The output can be larger than body
// when body does not compress; store the identity bytes then.
//
// Encoders are reused through sync.Pool: Encode is safe for concurrent use
// and, past warm-up, allocates only its result.
func Encode(enc Encoding, body []byte) ([]byte, error) {
	switch enc {
	case Identity:
		return body, nil
	case Gzip:
		return encodeStream(&gzipWriters, body, newGzipWriter)
	case Brotli:
		return encodeStream(&brotliWriters, body, newBrotliWriter)
	case Zstd:
		return encodeZstd(body)
	}
	return nil, fmt.Errorf("%w: %d", ErrUnknownEncoding, uint8(enc))
}

// streamWriter is a compressing writer that can be reused with Reset.
type streamWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

var (
	gzipWriters   sync.Pool // *gzip.Writer
	brotliWriters sync.Pool // *brotli.Writer
	zstdEncoders  sync.Pool // *zstd.Encoder, EncodeAll only
	scratchBufs   sync.Pool // *scratch
)

func newGzipWriter() (streamWriter, error) {
	return gzip.NewWriterLevel(nil, gzipLevel)
}

func newBrotliWriter() (streamWriter, error) {
	return brotli.NewWriterLevel(nil, brotliQuality), nil
}

func encodeStream(pool *sync.Pool, body []byte, newWriter func() (streamWriter, error)) ([]byte, error) {
	w, ok := pool.Get().(streamWriter)
	if !ok {
		var err error
		if w, err = newWriter(); err != nil {
			return nil, err
		}
	}
	buf := getScratch()
	defer putScratch(buf)
	w.Reset(buf)
	_, err := w.Write(body)
	if closeErr := w.Close(); err == nil {
		err = closeErr
	}
	w.Reset(nil) // drop buf before pooling w
	pool.Put(w)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(buf.b), nil
}

func encodeZstd(body []byte) ([]byte, error) {
	e, ok := zstdEncoders.Get().(*zstd.Encoder)
	if !ok {
		// One encoder per concurrent Encode rather than one shared encoder:
		// a shared one builds GOMAXPROCS encoders of 1.3 MB each up front.
		var err error
		e, err = zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstdLevel),
			zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(zstdMaxWindow))
		if err != nil {
			return nil, err
		}
	}
	buf := getScratch()
	defer putScratch(buf)
	buf.b = e.EncodeAll(body, buf.b[:0])
	zstdEncoders.Put(e)
	return bytes.Clone(buf.b), nil
}

// scratch is a reusable output buffer.
type scratch struct{ b []byte }

func (s *scratch) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

func getScratch() *scratch {
	if s, ok := scratchBufs.Get().(*scratch); ok {
		s.b = s.b[:0]
		return s
	}
	return &scratch{b: make([]byte, 0, 16<<10)}
}

func putScratch(s *scratch) {
	if cap(s.b) <= maxPooledBuf {
		scratchBufs.Put(s)
	}
}

// Decode returns body decoded from enc. It fails with ErrTooLarge once the
// output exceeds maxSize bytes, which guards against decompression bombs: a
// few kilobytes of gzip or zstd can claim gigabytes. Decode holds at most
// maxSize+1 bytes of output, besides the decoder's window: 32 KiB for gzip,
// up to 8 MiB for zstd and 16 MiB for brotli, as the stream declares.
// Identity returns body itself, subject to the same limit. A negative
// maxSize is 0.
//
// For a large body on its way to a client, prefer NewDecoder, which streams.
func Decode(enc Encoding, body []byte, maxSize int64) ([]byte, error) {
	maxSize = max(maxSize, 0)
	if enc == Identity {
		if int64(len(body)) > maxSize {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(body), maxSize)
		}
		return body, nil
	}
	r, err := getReader(enc, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("compress: decode %s: %w", enc, err)
	}
	defer putReader(enc, r)
	out, err := readLimited(r, sizeHint(enc, body, maxSize), maxSize)
	switch {
	case err == ErrTooLarge:
		return nil, fmt.Errorf("%w: %s body of %d bytes decodes to more than %d", ErrTooLarge, enc, len(body), maxSize)
	case err != nil:
		return nil, fmt.Errorf("compress: decode %s: %w", enc, err)
	}
	return out, nil
}

// sizeHint guesses the decoded size of body from the size its format
// records, when it records one. The guess is capped by limit, and by
// deflate's maximum ratio of 1032 (zstd's RLE blocks go further; the buffer
// then grows), so that a forged size does not buy a large allocation.
func sizeHint(enc Encoding, body []byte, limit int64) int {
	hint := int64(4*len(body) + 512)
	switch enc {
	case Gzip:
		// The trailer's ISIZE: the size of the last member, mod 2³²
		// (RFC 1952 §2.3.1).
		if len(body) >= 18 {
			hint = int64(binary.LittleEndian.Uint32(body[len(body)-4:]))
		}
	case Zstd:
		var h zstd.Header
		if h.Decode(body) == nil && h.HasFCS {
			hint = int64(min(h.FrameContentSize, 1<<40))
		}
	}
	return int(min(hint, 1032*int64(len(body)), limit))
}

// readLimited reads r to io.EOF into a buffer with capacity for hint bytes,
// failing with ErrTooLarge past limit bytes. The buffer never grows beyond
// limit+1 bytes: one more than allowed tells that the output is too large,
// and one more than the hint lets an exact hint see io.EOF without growing.
func readLimited(r io.Reader, hint int, limit int64) ([]byte, error) {
	buf := make([]byte, 0, hint+1)
	for {
		if len(buf) == cap(buf) {
			room := limit + 1 - int64(len(buf))
			buf = slices.Grow(buf, int(min(int64(max(cap(buf), 512)), room)))
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, ErrTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// NewDecoder returns a reader of the identity bytes of r, which is coded
// with enc, for streaming a stored body to a client that does not accept
// enc. For Identity it reads r as is. Bad input surfaces as a Read error;
// gzip reports a bad header here already.
//
// Close returns the decoder's state to a pool; it does not close r. Close is
// idempotent, and Read after Close fails with ErrClosed. The reader itself,
// like any reader, is for one goroutine at a time.
//
// WARNING: the output is not bounded. A stored body is the gateway's own
// work, but an origin's coded body need not be: wrap the reader in an
// io.LimitedReader, or use Decode, where its size matters.
func NewDecoder(enc Encoding, r io.Reader) (io.ReadCloser, error) {
	if enc == Identity {
		return io.NopCloser(r), nil
	}
	rr, err := getReader(enc, r)
	if err != nil {
		return nil, fmt.Errorf("compress: decode %s: %w", enc, err)
	}
	return &decoder{enc: enc, r: rr}, nil
}

type decoder struct {
	enc Encoding
	r   resetReader // nil once closed
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.r == nil {
		return 0, ErrClosed
	}
	return d.r.Read(p)
}

func (d *decoder) Close() error {
	if d.r != nil {
		putReader(d.enc, d.r)
		d.r = nil
	}
	return nil
}

// resetReader is a decompressing reader that can be reused with Reset.
type resetReader interface {
	io.Reader
	Reset(io.Reader) error
}

var readers [numEncodings]sync.Pool // resetReader, by Encoding

func getReader(enc Encoding, src io.Reader) (resetReader, error) {
	if enc == Identity || enc >= numEncodings {
		return nil, ErrUnknownEncoding
	}
	if r, ok := readers[enc].Get().(resetReader); ok {
		if err := r.Reset(src); err != nil {
			putReader(enc, r)
			return nil, err
		}
		return r, nil
	}
	switch enc {
	case Gzip:
		r, err := gzip.NewReader(src)
		if err != nil {
			return nil, err
		}
		return r, nil
	case Brotli:
		return brotli.NewReader(src), nil
	default:
		// Concurrency 1 decodes synchronously: no goroutines, so a pooled
		// decoder that the pool drops needs no Close.
		r, err := zstd.NewReader(src,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// putReader detaches r from its source, so that the pool does not keep the
// source alive, and pools it.
func putReader(enc Encoding, r resetReader) {
	if enc == Zstd {
		_ = r.Reset(nil) // documented to release the source
	} else {
		_ = r.Reset(eofReader{}) // gzip reads a header from it and fails: expected
	}
	readers[enc].Put(r)
}

// eofReader is an empty source. It is stateless, unlike an empty
// bytes.Reader, so that any number of pooled readers may share it.
type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
