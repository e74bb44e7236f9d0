package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
)

// tooLargeTier refuses entries whose body is over 1000 bytes, as the Redis
// tier does for encoded entries over cache.redis.max_object_size (which
// defaults to cache.max_object_size: a body near that size plus its headers
// is over it once encoded).
type tooLargeTier struct{ cache.Invalidator }

func (t tooLargeTier) Set(ctx context.Context, key string, e *cache.Entry) error {
	if len(e.Body) > 1000 {
		return cache.ErrTooLarge
	}
	return t.Invalidator.Set(ctx, key, e)
}

// TestReviewTooLargeEntriesOpenTheL2Breaker: l2.apply counts every Set
// error as an L2 failure, ErrTooLarge included (tierFailed treats it as the
// tier's policy, the breaker does not). Five large responses in a row
// (anyone can request them, in a burst, with distinct query strings) open the breaker:
// L2 is left alone for a second, lookups miss, queued writes and deletes
// are dropped, and purges made meanwhile are not applied to L2 at all.
func TestReviewTooLargeEntriesOpenTheL2Breaker(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("Surrogate-Key", "big")
		fmt.Fprint(w, strings.Repeat("x", 2000))
	})
	fl := newSharedFleet(t, o, nil, func(l2 cache.Tier) cache.Tier { return tooLargeTier{l2.(cache.Invalidator)} })
	a := fl.start()
	// A burst of large responses: their lookups come first, then their L2
	// writes, in a row (queued here directly, so that the order is the
	// burst's every time).
	now := fl.clock.Now()
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Add(1)
		e := &cache.Entry{ID: cache.NewEntryID(), Key: fmt.Sprintf("GET http://api.example/big?i=%d", i), Status: 200,
			Header: http.Header{}, Body: []byte(strings.Repeat("x", 2000)),
			RequestTime: now, ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Minute)}
		a.gw.toL2(e.Key, e, wg.Done)
	}
	wg.Wait()
	st, _ := a.gw.L2Stats()
	if st.Open {
		t.Errorf("five responses too large in a row for L2 opened its circuit breaker (errors %d): "+
			"a client can switch L2 off by asking for large objects", st.Errors)
	}
	if _, err := a.gw.Purge(context.Background(), Purge{Tags: []string{"other"}}); errors.Is(err, ErrPurgeNotShared) {
		t.Errorf("a purge right after them was not applied to L2: %v", err)
	}
}
