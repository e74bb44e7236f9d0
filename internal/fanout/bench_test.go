package fanout

import (
	"testing"
)

// BenchmarkEnqueue measures what a purge API request pays for fan-out: encoding once and a
// push per target (two here, on queues kept full so every push also drops).
func BenchmarkEnqueue(b *testing.B) {
	f, err := New(Options{Targets: []Target{{URL: "http://127.0.0.1:1/a"}, {URL: "http://127.0.0.1:1/b"}}, QueueSize: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close(b.Context())
	p := Purge{Tags: []string{"product:42", "products"}, Soft: true}
	b.ReportAllocs()
	for b.Loop() {
		f.Enqueue(p)
	}
}
