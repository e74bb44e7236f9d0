package hotkeys_test

import (
	"fmt"
	"time"

	"github.com/moatproxy/moat/internal/hotkeys"
)

func Example() {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tr := hotkeys.New(hotkeys.Options{HalfLife: time.Minute, Now: func() time.Time { return now }})

	// One request per second for ten minutes to /a, one every 4s to /b.
	for s := range 600 {
		tr.Observe("GET /a", "/a")
		if s%4 == 0 {
			tr.Observe("GET /b", "/b?page=2")
		}
		now = now.Add(time.Second)
	}
	for _, h := range tr.Top(10) {
		fmt.Printf("%s %.2f req/s\n", h.URL, h.Rate)
	}
	now = now.Add(time.Minute) // a half-life without requests
	fmt.Printf("/a a minute later: %.2f req/s\n", tr.Rate("GET /a"))
	// Output:
	// /a 0.99 req/s
	// /b?page=2 0.24 req/s
	// /a a minute later: 0.50 req/s
}
