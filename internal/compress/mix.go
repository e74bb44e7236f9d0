package compress

import "sync/atomic"

// The thresholds of Mix.Choose, as shares of the recently observed clients.
//
// Serving stored bytes as they are costs nothing; a client that does not
// accept the stored coding costs a decode on every hit. So a compressed
// coding is stored only when few clients would need that decode.
const (
	// MixMinSamples observations are needed before Choose leaves Identity: an
	// early guess would stick to every entry stored during warm-up.
	MixMinSamples = 16

	// MixWindow bounds the memory of a Mix: when this many observations have
	// accumulated, every count is halved. Choose therefore weighs the last
	// MixWindow/2 to MixWindow requests most, older ones geometrically less,
	// counting requests rather than seconds so that no clock is needed.
	MixWindow = 1024
)

// Mix tracks which codings recent clients accept, so that the gateway stores
// new entries in the coding the client mix warrants. Call Observe on every
// request and Choose when storing a compressible response.
//
// Choose applies two thresholds, in the server's order br > zstd > gzip:
//
//   - Near-universal: the first coding that at least 90% of recent clients
//     accept. Browser traffic (br, zstd, gzip) stores br; Go, Java and
//     Python clients (gzip) with some browsers store gzip.
//   - Majority: otherwise the coding the most clients accept, if at least
//     two thirds of them do.
//   - Otherwise Identity, also before MixMinSamples observations: with a third
//     or more of the clients unable to decode, say curl and health checks
//     without Accept-Encoding, decoding on every hit costs more than the
//     bytes saved.
//
// The zero value is ready to use. A Mix is safe for concurrent use and must
// not be copied after first use. It is a single atomic word: Observe costs
// one parse of the field (no allocation) and one atomic add.
type Mix struct {
	// counts packs four 16-bit counters, low to high: requests, then those
	// accepting br, zstd and gzip. One word keeps the four consistent with
	// each other without a lock.
	counts atomic.Uint64
}

// MixStats is a snapshot of a Mix: the requests in its window and how many
// of them accept each coding.
type MixStats struct {
	Observed, Brotli, Zstd, Gzip int
}

const (
	counterBits  = 16
	counterMask  = 1<<counterBits - 1
	halvingMask  = 0x7fff_7fff_7fff_7fff // clears each counter's top bit after a shift
	brotliShift  = 1 * counterBits
	zstdShift    = 2 * counterBits
	gzipShift    = 3 * counterBits
	observedOnly = 1
)

// Observe records the Accept-Encoding field value of one request; pass
// AcceptEncoding(r.Header). A request without the field counts as a client
// that accepts no coding.
func (m *Mix) Observe(acceptEncoding string) {
	w := parseAccept(acceptEncoding)
	delta := uint64(observedOnly)
	if ok, _ := w.resolve(Brotli); ok {
		delta |= 1 << brotliShift
	}
	if ok, _ := w.resolve(Zstd); ok {
		delta |= 1 << zstdShift
	}
	if ok, _ := w.resolve(Gzip); ok {
		delta |= 1 << gzipShift
	}
	if m.counts.Add(delta)&counterMask >= MixWindow {
		m.halve()
	}
}

// halve divides every counter by two. Several goroutines may cross MixWindow
// together: each retries until the count is below the window again, so the
// counts are halved once per crossing, and adds that land between a Load and
// a CompareAndSwap make the swap fail rather than be lost. The counters
// cannot overflow: that would take 64,000 adds racing one halving.
func (m *Mix) halve() {
	for {
		v := m.counts.Load()
		if v&counterMask < MixWindow {
			return
		}
		if m.counts.CompareAndSwap(v, (v>>1)&halvingMask) {
			return
		}
	}
}

// Stats returns the counts in the window, for metrics and logs.
func (m *Mix) Stats() MixStats {
	v := m.counts.Load()
	return MixStats{
		Observed: int(v & counterMask),
		Brotli:   int(v >> brotliShift & counterMask),
		Zstd:     int(v >> zstdShift & counterMask),
		Gzip:     int(v >> gzipShift & counterMask),
	}
}

// Choose returns the coding to store new compressible entries in; see Mix
// for the thresholds. It does not allocate.
func (m *Mix) Choose() Encoding {
	return m.Stats().choose()
}

func (s MixStats) choose() Encoding {
	if s.Observed < MixMinSamples {
		return Identity
	}
	byPreference := [...]struct {
		enc   Encoding
		count int
	}{{Brotli, s.Brotli}, {Zstd, s.Zstd}, {Gzip, s.Gzip}}
	for _, c := range byPreference {
		if 10*c.count >= 9*s.Observed {
			return c.enc
		}
	}
	best := byPreference[0]
	for _, c := range byPreference[1:] {
		if c.count > best.count {
			best = c
		}
	}
	if 3*best.count >= 2*s.Observed {
		return best.enc
	}
	return Identity
}
