package upstream

import (
	"fmt"
	"net/url"
	"testing"
)

// BenchmarkPick measures the locked part of RoundTrip: choosing a member.
func BenchmarkPick(b *testing.B) {
	ms := make([]Member, 8)
	for i := range ms {
		ms[i] = Member{URL: &url.URL{Scheme: "http", Host: fmt.Sprintf("10.0.0.%d:80", i+1)}, Weight: i%3 + 1}
	}
	for _, balance := range []Balance{RoundRobin, LeastConn, Random2, Hash, First} {
		b.Run(string(balance), func(b *testing.B) {
			p, err := New(Options{Members: ms, Balance: balance})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			key := hashKey("/products/42", "color=red")
			b.ReportAllocs()
			for b.Loop() {
				m, _, err := p.pick(key, nil)
				if err != nil {
					b.Fatal(err)
				}
				m.inFlight.Add(-1)
			}
		})
	}
}
