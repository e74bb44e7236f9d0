package compress_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/moatproxy/moat/internal/compress"
)

// The gateway stores a JSON response once, in the coding its browser-heavy
// client mix warrants, and answers a browser and curl from that one copy.
func Example() {
	var mix compress.Mix
	for range 95 {
		mix.Observe("gzip, deflate, br, zstd")
	}
	for range 5 {
		mix.Observe("") // curl
	}

	// Store time: compress once.
	body := []byte(strings.Repeat(`{"id":1,"name":"moat","tags":["cache","gateway"]},`, 100))
	stored := compress.Identity
	if compress.Compressible("application/json", len(body)) {
		stored = mix.Choose()
	}
	coded, err := compress.Encode(stored, body)
	if err != nil {
		panic(err)
	}
	fmt.Printf("stored as %s, %d bytes, smaller: %v\n", stored, len(body), len(coded) < len(body))

	// Serve time: as is, or decoded on the fly.
	for _, accept := range []string{"gzip, deflate, br, zstd", ""} {
		h := http.Header{}
		var sent int64
		if compress.Accepts(accept, stored) {
			h.Set("Content-Encoding", stored.String())
			sent = int64(len(coded))
		} else {
			d, err := compress.NewDecoder(stored, bytes.NewReader(coded))
			if err != nil {
				panic(err)
			}
			sent, _ = io.Copy(io.Discard, d)
			d.Close()
		}
		compress.AddVary(h)
		fmt.Printf("Accept-Encoding %q: Content-Encoding %q, Vary %q, %d bytes sent\n",
			accept, h.Get("Content-Encoding"), h.Get("Vary"), sent)
	}
	// Output:
	// stored as br, 5000 bytes, smaller: true
	// Accept-Encoding "gzip, deflate, br, zstd": Content-Encoding "br", Vary "Accept-Encoding", 63 bytes sent
	// Accept-Encoding "": Content-Encoding "", Vary "Accept-Encoding", 5000 bytes sent
}

// The RFC 9110 §12.5.3 example: gzip preferred, identity acceptable at a
// lower weight, everything else refused.
func ExampleAccepts() {
	const accept = "gzip;q=1.0, identity; q=0.5, *;q=0"
	fmt.Println(compress.Accepts(accept, compress.Brotli))
	fmt.Println(compress.Accepts(accept, compress.Gzip))
	fmt.Println(compress.Accepts(accept, compress.Identity))
	// Output:
	// false
	// true
	// true
}
