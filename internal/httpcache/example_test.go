package httpcache_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/moatproxy/moat/internal/httpcache"
)

// A response that spent 10 seconds in an upstream cache (Age: 10) reaches
// moat 2 seconds after the request was sent. Its freshness lifetime is
// max-age=300; a minute later it is 72 seconds old and fresh for 228 more.
func ExampleFreshnessLifetime() {
	requestTime := time.Date(2026, time.January, 2, 15, 4, 0, 0, time.UTC)
	responseTime := requestTime.Add(2 * time.Second)
	h := http.Header{
		"Cache-Control": {"public, max-age=300"},
		"Date":          {"Fri, 02 Jan 2026 15:04:01 GMT"},
		"Age":           {"10"},
	}

	d := httpcache.ParseResponseDirectives(h)
	lifetime, _ := httpcache.FreshnessLifetime(h, d, responseTime)
	initialAge := httpcache.InitialAge(h, requestTime, responseTime)
	now := responseTime.Add(time.Minute)
	age := httpcache.CurrentAge(initialAge, responseTime, now)

	fmt.Println("lifetime:", lifetime)
	fmt.Println("initial age:", initialAge)
	fmt.Println("current age:", age)
	fmt.Println("fresh:", age < lifetime)
	fmt.Printf("Cache-Status: %s\n", httpcache.AppendCacheStatus(nil, "moat", httpcache.Status{
		Hit: true, TTL: int64((lifetime - age) / time.Second), HasTTL: true,
	}))
	// Output:
	// lifetime: 5m0s
	// initial age: 12s
	// current age: 1m12s
	// fresh: true
	// Cache-Status: moat; hit; ttl=228
}
