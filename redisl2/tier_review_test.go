package redisl2_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/redistest"
)

// reviewEntry is a plain stored response under key, tagged tag, kept for an
// hour (as an entry with validators is: keepFor adds at least 10 minutes).
func reviewEntry(key, tag string, now time.Time) *cache.Entry {
	return &cache.Entry{
		ID: cache.NewEntryID(), Key: key, Status: 200,
		Header:      http.Header{"Content-Type": {"text/plain"}},
		Body:        []byte("v"),
		RequestTime: now, ResponseTime: now, Lifetime: time.Minute,
		KeepUntil: now.Add(time.Hour),
		Tags:      []string{tag},
	}
}

// TestReviewTagIndexGrowsWithEveryRewriteOfOneKey: every Set of a key
// (a refresh, a revalidation, a client's "Cache-Control: no-cache" refetch:
// each is a new entry ID) adds a new "key#id" member to each of its tag
// indexes (its own tags and every path-segment tag, "/" included), and the
// old members stay until their expiry (up to Lifetime + 24h for an entry
// with validators). One URL refetched at R requests/s therefore leaves
// R x keep members in the "/" index. An outsider controls R.
func TestReviewTagIndexGrowsWithEveryRewriteOfOneKey(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	tier := c.Tier()
	ctx := context.Background()
	const rewrites = 300
	now := time.Now()
	for range rewrites {
		if err := tier.Set(ctx, "GET http://api.example/items/1", reviewEntry("GET http://api.example/items/1", "item:1", now)); err != nil {
			t.Fatal(err)
		}
	}
	rc := c.Redis()
	keys, err := rc.Do(ctx, rc.B().Keys().Pattern("*:t:{*}").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		n, err := rc.Do(ctx, rc.B().Zcard().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			t.Errorf("tag index %s holds %d members after %d rewrites of ONE key (one live entry): "+
				"the index grows with writes, not with entries", k, n, rewrites)
		}
	}
}

// TestReviewTagPurgeOfAHotKeyMissesItsLiveEntry: the members of a tag are
// walked in score (expiry) order, and the live entry of a key rewritten
// many times has the latest expiry, so it is the LAST member a purge
// reaches. Under the gateway's purge budget (20 x cache.redis.timeout =
// 200ms by default) a purge of a tag with enough dead members gives up
// before it, and the purged entry stays in L2 for every node started later
// (the running ones only refuse it because they stamped the purge).
func TestReviewTagPurgeOfAHotKeyMissesItsLiveEntry(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	tier := c.Tier()
	ctx := context.Background()
	const key, tag = "GET http://api.example/items/1", "item:1"
	base := time.Now()
	// The live entry: the last write of a key rewritten many times, so it
	// expires last.
	live := reviewEntry(key, tag, base)
	live.RequestTime = time.Time{} // no fence reads: only the index matters here
	live.KeepUntil = base.Add(time.Hour)
	if err := tier.Set(ctx, key, live); err != nil {
		t.Fatal(err)
	}
	// What the earlier rewrites left in the indexes (one "key#id" member
	// each, as TestReviewTagIndexGrowsWithEveryRewriteOfOneKey shows through
	// Set), with earlier expiries: added in bulk here to keep the test fast.
	rc := c.Redis()
	indexes, err := rc.Do(ctx, rc.B().Keys().Pattern("*:t:{*}").Build()).AsStrSlice()
	if err != nil || len(indexes) == 0 {
		t.Fatalf("tag indexes: %v %v", indexes, err)
	}
	ms, err := rc.Do(ctx, rc.B().Zrange().Key(indexes[0]).Min("0").Max("0").Build()).AsStrSlice()
	if err != nil || len(ms) != 1 {
		t.Fatalf("index %s: %v %v", indexes[0], ms, err)
	}
	entryKey, _, _ := strings.Cut(ms[0], "#")
	const rewrites = 120_000
	for batch := 0; batch < rewrites; batch += 10_000 {
		for _, k := range indexes {
			add := rc.B().Zadd().Key(k).ScoreMember()
			for i := batch; i < batch+10_000; i++ {
				add = add.ScoreMember(float64(base.Add(10*time.Minute+time.Duration(i)*time.Millisecond).UnixMilli()), fmt.Sprintf("%s#%016x", entryKey, uint64(i)+1))
			}
			if err := rc.Do(ctx, add.Build()).Error(); err != nil {
				t.Fatal(err)
			}
		}
	}

	pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond) // gateway: l2PurgeTimeouts x 10ms
	_, err = tier.Invalidate(pctx, cache.Invalidation{Tags: []string{tag}})
	cancel()
	left := int64(-1)
	if ks, err := rc.Do(ctx, rc.B().Keys().Pattern("*:t:{*}").Build()).AsStrSlice(); err == nil {
		for _, k := range ks {
			if n, err := rc.Do(ctx, rc.B().Zcard().Key(k).Build()).AsInt64(); err == nil && (left < 0 || n < left) {
				left = n
			}
		}
	}
	got, gerr := tier.Get(ctx, key)
	if gerr != nil {
		t.Fatal(gerr)
	}
	if got != nil {
		t.Errorf("after a purge of tag %q (err %v), L2 still serves the purged entry (ID %x == live %x: %v): "+
			"the purge walked dead members first and ran out of budget (%d of %d members of the tag's index left unvisited)", tag, err, got.ID, live.ID, got.ID == live.ID, left, rewrites+1)
	}
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("purge error: %v", err)
	}
}

// TestReviewSetThatTimesOutSkipsTheFenceCheck: Set stores first and checks
// the purge fences after, so that it and a concurrent Invalidate always see
// each other. But when the store pipeline returns an error (the caller's
// deadline passed while Redis was slow: the commands were sent and still
// run; or, on a Cluster without full coverage, the tag index's master is
// down while the entry's is up), Set returns at once, without the fence
// check and without undoing the write. An entry whose fill started before
// a purge is then kept in L2 (here the purge came first and the Set's
// SET still lands): the Invalidator contract is broken by a slow Redis.
func TestReviewSetThatTimesOutSkipsTheFenceCheck(t *testing.T) {
	srv := redistest.Standalone(t)
	c := client(t, "", srv.Addr)
	tier := c.Tier()
	ctx := context.Background()
	const key, tag = "GET http://api.example/items/1", "item:1"
	now := time.Now()
	e := reviewEntry(key, tag, now.Add(-100*time.Millisecond)) // its fill started before the purge
	if _, err := tier.Invalidate(ctx, cache.Invalidation{Keys: []string{key}}); err != nil {
		t.Fatal(err)
	}
	// Control: a Set that completes sees the fence and does not keep e.
	if err := tier.Set(ctx, key, e); err != nil {
		t.Fatal(err)
	}
	if got, _ := tier.Get(ctx, key); got != nil {
		t.Fatal("control: a fenced Set kept its entry")
	}

	srv.Freeze()
	sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond) // the gateway's write deadline
	err := tier.Set(sctx, key, e)
	cancel()
	srv.Thaw()
	// Set undoes a write it could not finish: the DEL follows the SET,
	// sent again until Redis answers. It lands within moments of the thaw
	// (rueidis does not promise that a command whose caller gave up is
	// written before a later caller's), never later.
	deadline := time.Now().Add(10 * time.Second) // a loaded CI machine (2s was seen to miss)
	for {
		got, gerr := tier.Get(ctx, key)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if got == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Set returned %v and L2 still holds, 10s after Redis answers again, an entry whose fill "+
				"started before a purge of its URL (the fence check was skipped)", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
