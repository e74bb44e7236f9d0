package gateway

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

// TestReviewDistrustIgnoresSkewForL1CopiesOfOtherNodesFills: when the Bus
// may have lost purges, trusted() drops L1 entries whose RequestTime is
// before now. An entry promoted from L2 carries the RequestTime of the node
// that filled it, on that node's clock; if that clock is ahead (within the
// L2Skew moat allows, 1s by default) the copy looks filled after the
// distrust and is served again, although it was filled before it (and
// before the purge this node may have missed). vouch() subtracts the skew;
// trusted() does not.
func TestReviewDistrustIgnoresSkewForL1CopiesOfOtherNodesFills(t *testing.T) {
	o := taggedOrigin(t)
	fl := newSharedFleet(t, o, nil, nil)
	bus := new(lostBus)
	u, _ := url.Parse(o.URL)
	start := func(now func() time.Time) *node {
		gw, err := New(Options{Origin: u, Now: now, OriginTimeout: 2 * time.Second,
			L2: fl.l2, L2Timeout: 50 * time.Millisecond, L2Skew: time.Second, // the default skew
			Bus: bus, Versions: fl.vers})
		if err != nil {
			t.Fatal(err)
		}
		n := &node{gw: gw, front: httptest.NewServer(gw)}
		t.Cleanup(func() { n.front.Close(); gw.Close() })
		return n
	}
	a := start(func() time.Time { return fl.clock.Now().Add(800 * time.Millisecond) }) // 0.8s ahead
	b := start(fl.clock.Now)
	fl.clock.Advance(5 * time.Second)

	a.do(t, "GET", "/x") // filled at real time T
	a.written(t, 1)
	wantXCache(t, b.do(t, "GET", "/x"), "HIT") // B's L1 copy, from L2
	fl.clock.Advance(100 * time.Millisecond)
	// A purge of /x made at T+50ms never reached B, and the Bus says so.
	bus.lost[1]()
	if r := b.do(t, "GET", "/x"); r.xcache() == "HIT" && o.count("GET /x") == 1 {
		t.Errorf("after the Bus lost purges, B still served its copy of an entry filled before: %q "+
			"(its RequestTime is on A's clock, 0.8s ahead, within the allowed skew)", r.body)
	}
}
