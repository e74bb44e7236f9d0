package natsbus

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/gateway"
)

func oversized() gateway.Purge { return gateway.Purge{Tags: []string{strings.Repeat("t", maxMessage)}} }

// TestBusDroppedPurgeIsTold: a purge the sender drops takes a number, and
// the other nodes are told lost (once per gap), with Gaps counted.
func TestBusDroppedPurgeIsTold(t *testing.T) {
	srv := startServer(t)

	t.Run("oversized_in_a_known_stream", func(t *testing.T) {
		nodes := fleet(t, srv.URL(), "a", "b", "c")
		a, b, c := nodes[0], nodes[1], nodes[2]
		a.publish(purge("1"))
		waitFor(t, "1 everywhere", func() bool { return len(b.tags()) == 1 && len(c.tags()) == 1 })
		a.publish(oversized()) // dropped: a tail shows its number at once
		waitFor(t, "b and c told lost", func() bool { return b.lostCount() == 1 && c.lostCount() == 1 })
		a.publish(purge("2"))
		waitFor(t, "2 everywhere", func() bool { return len(b.tags()) == 2 && len(c.tags()) == 2 })
		for i, n := range nodes[1:] {
			if st := n.bus.Stats(); st.Gaps != 1 || st.Lost != 1 || st.Duplicates != 0 || n.lostCount() != 1 {
				t.Errorf("node %d: stats %+v, told lost %d times; want 1 gap, 1 lost", i+1, st, n.lostCount())
			}
		}
		if st := a.bus.Stats(); st.Dropped != 1 || st.Gaps != 0 || a.lostCount() != 0 {
			t.Errorf("a: stats %+v, told lost %d times; want 1 dropped, no gap, not told", st, a.lostCount())
		}
	})

	t.Run("first_purge_of_a_new_sender", func(t *testing.T) {
		// b listens before a joins: a's first number, dropped, is one b
		// would have heard.
		b := join(t, newBus(t, Options{URL: srv.URL(), Node: "b"}))
		a := join(t, newBus(t, Options{URL: srv.URL(), Node: "a"}))
		a.publish(oversized())
		waitFor(t, "b told lost", func() bool { return b.lostCount() == 1 })
		a.publish(purge("next"))
		waitFor(t, "next", func() bool { return len(b.tags()) == 1 })
		if st := b.bus.Stats(); st.Gaps != 1 || b.lostCount() != 1 {
			t.Errorf("b: stats %+v, told lost %d times; want 1 gap", st, b.lostCount())
		}
	})

	t.Run("queue_overflow_in_a_flood", func(t *testing.T) {
		a := join(t, newBus(t, Options{URL: srv.URL(), Node: "a", Queue: 1}))
		b := join(t, newBus(t, Options{URL: srv.URL(), Node: "b"}))
		i := 0
		waitFor(t, "a drop", func() bool {
			for range 500 {
				a.publish(purge(strconv.Itoa(i)))
				i++
			}
			return a.bus.Stats().Dropped > 0
		})
		waitFor(t, "b told lost", func() bool { return b.lostCount() >= 1 && b.bus.Stats().Gaps >= 1 })
		// Everything a handed over reaches b; every gap b counted is a drop.
		waitFor(t, "the rest", func() bool {
			a.publish(purge("after"))
			tags := b.tags()
			return len(tags) > 0 && tags[len(tags)-1] == "after"
		})
		waitFor(t, "all handed over delivered", func() bool { return b.bus.Stats().Received == a.bus.Stats().Published })
		sa, sb := a.bus.Stats(), b.bus.Stats()
		if sb.Gaps > sa.Dropped || sb.Duplicates != 0 || a.lostCount() != 0 {
			t.Errorf("a: %+v; b: %+v; a told lost %d times; want b's gaps <= a's drops, no duplicates, a not told",
				sa, sb, a.lostCount())
		}
		t.Logf("%d published, %d dropped, %d gaps", sa.Published, sa.Dropped, sb.Gaps)
	})
}

// TestBusSteadyTrafficHasNoGaps: purges and tails in order tell nothing.
func TestBusSteadyTrafficHasNoGaps(t *testing.T) {
	srv := startServer(t)
	var nodes []*node
	for _, name := range []string{"a", "b", "c"} {
		// A short Grace: tails every 20ms, among the purges.
		nodes = append(nodes, join(t, newBus(t, Options{URL: srv.URL(), Node: name, Grace: 20 * time.Millisecond})))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			b.publish(purge("b" + strconv.Itoa(i)))
		}
	}()
	for i := range 1000 {
		a.publish(purge("a" + strconv.Itoa(i)))
	}
	<-done
	waitFor(t, "every purge", func() bool {
		return len(a.tags()) == 1000 && len(b.tags()) == 1000 && len(c.tags()) == 2000
	})
	// Tails went out among the purges (a tail goes each Grace after a
	// stream moved); "end" goes out behind those of a sent so far.
	waitFor(t, "tails of both streams", func() bool { return a.bus.tails.Load() > 0 && b.bus.tails.Load() > 0 })
	a.publish(purge("end"))
	waitFor(t, "end", func() bool { return len(c.tags()) == 2001 })
	for i, n := range nodes {
		st := n.bus.Stats()
		if st.Gaps != 0 || st.Lost != 0 || st.Duplicates != 0 || st.Dropped != 0 || st.Malformed != 0 || n.lostCount() != 0 {
			t.Errorf("node %d: stats %+v, told lost %d times; want nothing missed", i, st, n.lostCount())
		}
	}
	// c heard a's purges in a's order.
	var fromA []string
	for _, tag := range c.tags() {
		if tag[0] == 'a' {
			fromA = append(fromA, tag)
		}
	}
	for i, tag := range fromA {
		if tag != "a"+strconv.Itoa(i) {
			t.Fatalf("c heard a's purge %d as %q", i, tag)
		}
	}
	if last, ok := c.bus.heard.last(a.id()); !ok || last != 1001 {
		t.Errorf("c's last number from a = %d, %v; want 1001", last, ok)
	}
}

// id returns the node's member ID (its stream).
func (n *node) id() string {
	n.bus.mu.Lock()
	defer n.bus.mu.Unlock()
	for m := range n.bus.members {
		return m.id
	}
	return ""
}

// TestBusRestartsAreNoGaps: a restarted sender is a new stream from 1; a
// restarted receiver starts from what it hears.
func TestBusRestartsAreNoGaps(t *testing.T) {
	srv := startServer(t)
	b := join(t, newBus(t, Options{URL: srv.URL(), Node: "b"}))

	a1bus, err := New(Options{URL: srv.URL(), Node: "a", Grace: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a1 := join(t, a1bus)
	for i := range 5 {
		a1.publish(purge("a1-" + strconv.Itoa(i)))
	}
	waitFor(t, "a1's purges", func() bool { return len(b.tags()) == 5 })
	a1.leave()
	a1bus.Close()

	a2 := join(t, newBus(t, Options{URL: srv.URL(), Node: "a", Grace: 20 * time.Millisecond})) // same Node, new process
	for i := range 3 {
		a2.publish(purge("a2-" + strconv.Itoa(i)))
	}
	waitFor(t, "a2's purges", func() bool { return len(b.tags()) == 8 })
	if st := b.bus.Stats(); st.Gaps != 0 || b.lostCount() != 0 || st.Senders != 2 {
		t.Errorf("b: stats %+v, told lost %d times; want no gap, 2 streams", st, b.lostCount())
	}

	// A receiver started well after a2's purges hears a2 first with number
	// 4, and its tails. The pause is the scenario (a2's number 3 taken
	// 50ms before b2 exists, far beyond the bound's 100µs slack), not a
	// synchronization: nothing is waited for.
	time.Sleep(50 * time.Millisecond)
	b2 := join(t, newBus(t, Options{URL: srv.URL(), Node: "b2"}))
	aTails := a2.bus.tails.Load() // a2's purges so far were tailed long ago
	a2.publish(purge("a2-3"))
	waitFor(t, "a2-3 at b2", func() bool { return len(b2.tags()) == 1 })
	waitFor(t, "a2's tail of a2-3", func() bool { return a2.bus.tails.Load() > aTails })
	a2.publish(purge("a2-4")) // after the tail, in order
	waitFor(t, "a2-4 at b2", func() bool { return len(b2.tags()) == 2 })
	for name, n := range map[string]*node{"b": b, "b2": b2} {
		if st := n.bus.Stats(); st.Gaps != 0 || st.Duplicates != 0 || n.lostCount() != 0 {
			t.Errorf("%s: stats %+v, told lost %d times; want no gap", name, st, n.lostCount())
		}
	}
}

// rawSender publishes crafted envelopes as other members would.
type rawSender struct {
	t  *testing.T
	nc *natsgo.Conn
}

func newRawSender(t *testing.T, url string) *rawSender {
	nc, err := natsgo.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &rawSender{t, nc}
}

// send publishes number seq of member's stream (a purge, or a tail when
// tag is ""), whose previous number was taken ago before it.
func (r *rawSender) send(member string, seq uint64, tag string, ago time.Duration) {
	r.t.Helper()
	const age = 1 << 40 // µs: the fake member is old
	e := envelope{Node: "fake", Member: member, Seq: seq, Age: age, Prior: age - uint64(ago.Microseconds())}
	if tag != "" {
		p := purge(tag)
		e.Purge = &p
	}
	body, err := encode(e)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.nc.Publish(DefaultSubject, body); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawSender) flush() {
	r.t.Helper()
	if err := r.nc.Flush(); err != nil {
		r.t.Fatal(err)
	}
}

// TestBusSequenceChecks drives one Bus with crafted streams.
func TestBusSequenceChecks(t *testing.T) {
	srv := startServer(t)
	n := join(t, newBus(t, Options{URL: srv.URL(), Node: "n"}))
	raw := newRawSender(t, srv.URL())
	const (
		long       = 10 * time.Minute // "taken long ago": before this Bus listened
		sinceFloor = -1               // half as long ago as the latest of listened, joined, told lost
	)

	type step struct {
		member     string
		seq        uint64
		tag        string // "": a tail
		ago        time.Duration
		delivered  bool
		gaps, dups int64
	}
	for i, s := range []step{
		{"x", 1, "x1", 0, true, 0, 0},          // a new stream from 1
		{"x", 2, "x2", 0, true, 0, 0},          // in order
		{"x", 2, "x2", 0, false, 0, 1},         // heard twice: dropped
		{"x", 1, "x1", 0, false, 0, 2},         // behind: dropped
		{"x", 2, "", 0, false, 0, 2},           // a tail of the last number: nothing
		{"x", 4, "x4", 0, true, 1, 2},          // 3 never heard: a gap, and 4 delivered
		{"x", 5, "", 0, false, 2, 2},           // a tail above the last: 5 never heard
		{"x", 6, "x6", 0, true, 2, 2},          // in order after the tail
		{"y", 7, "y7", long, true, 2, 2},       // first heard, its numbers taken before n listened
		{"z", 7, "z7", 0, true, 3, 2},          // first heard, 6 taken just now: n would have heard it
		{"w", 3, "", long, false, 3, 2},        // a first tail, numbers taken long ago
		{"w", 4, "w4", 0, true, 3, 2},          // in order
		{"v", 2, "v2", sinceFloor, true, 4, 2}, // 1 taken after n listened and was last told lost
	} {
		before := len(n.tags())
		if s.ago == sinceFloor {
			floor := max(n.bus.listenSince.Load(), n.bus.firstJoin.Load(), n.bus.lastLost.Load())
			s.ago = time.Duration(mono()-floor) / 2
		}
		raw.send(s.member, s.seq, s.tag, s.ago)
		marker := "marker-" + strconv.Itoa(i)
		raw.send("marker", uint64(i+1), marker, 0) // in order behind it: the step is done when it arrives
		raw.flush()
		waitFor(t, marker, func() bool {
			tags := n.tags()
			return len(tags) > 0 && tags[len(tags)-1] == marker
		})
		got := len(n.tags()) - before - 1
		st := n.bus.Stats()
		if (got == 1) != s.delivered || st.Gaps != s.gaps || st.Duplicates != s.dups || int64(n.lostCount()) != s.gaps {
			t.Errorf("step %d %+v: delivered %d, stats %+v, told lost %d times", i, s, got, st, n.lostCount())
		}
	}

	// A lost that told every member covers the numbers taken before it.
	n.bus.lostAll("test")
	lost := n.lostCount()
	raw.send("x", 9, "x9", time.Hour) // 7 and 8 taken long before the lost
	raw.send("x", 11, "x11", 0)       // 10 taken just now: after it
	raw.flush()
	waitFor(t, "x11", func() bool {
		tags := n.tags()
		return tags[len(tags)-1] == "x11"
	})
	if st := n.bus.Stats(); st.Gaps != 5 || n.lostCount() != lost+1 {
		t.Errorf("stats %+v, told lost %d more times; want 10 a gap, 7 and 8 covered", st, n.lostCount()-lost)
	}
}

// TestBusForgetsTheLeastRecentlyHeard: the table of streams stays at
// maxSenders, forgetting the stream heard least recently; one heard again
// after that starts afresh unless its numbers were taken since.
func TestBusForgetsTheLeastRecentlyHeard(t *testing.T) {
	srv := startServer(t)
	n := join(t, newBus(t, Options{URL: srv.URL(), Node: "n"}))
	raw := newRawSender(t, srv.URL())
	raw.send("old", 1, "old1", 0)
	raw.send("kept", 1, "kept1", 0)
	for i := range maxSenders - 2 {
		raw.send("fake-"+strconv.Itoa(i), 1, "f", 0)
	}
	raw.send("kept", 2, "kept2", 0) // heard again: the most recent
	for i := range 100 {
		raw.send("more-"+strconv.Itoa(i), 1, "f", 0)
	}
	raw.flush()
	want := int64(maxSenders + 101)
	waitFor(t, "every purge", func() bool { return n.bus.Stats().Received == want })
	if st := n.bus.Stats(); st.Senders != maxSenders {
		t.Errorf("Senders = %d, want %d", st.Senders, maxSenders)
	}
	if _, ok := n.bus.heard.last("old"); ok {
		t.Error("old still remembered")
	}
	if _, ok := n.bus.heard.last("fake-0"); ok {
		t.Error("fake-0 still remembered")
	}
	if last, ok := n.bus.heard.last("kept"); !ok || last != 2 {
		t.Errorf("kept: %d, %v; want 2 remembered", last, ok)
	}
	if _, ok := n.bus.heard.last("fake-99"); !ok {
		t.Error("fake-99 forgotten")
	}

	raw.send("old", 2, "old2", time.Hour) // forgotten; 1 taken long before: heard then, assume so
	raw.send("fake-0", 3, "f3", 0)        // forgotten; 2 taken just now, after the forgetting: a gap
	raw.send("kept", 3, "kept3", 0)       // in order
	raw.send("new-one", 1, "new", 0)      // a new stream
	raw.flush()
	waitFor(t, "the last", func() bool { return n.bus.Stats().Received == want+4 })
	if st := n.bus.Stats(); st.Gaps != 1 || st.Senders != maxSenders || n.lostCount() != 1 {
		t.Errorf("stats %+v, told lost %d times; want 1 gap (fake-0), %d streams", st, n.lostCount(), maxSenders)
	}
}

func TestSendersVerdicts(t *testing.T) {
	s := newSenders(3)
	check := func(id string, seq uint64, tail bool, want verdict) {
		t.Helper()
		if v, _, _ := s.see(id, seq, tail); v != want {
			t.Errorf("see(%s, %d, tail %v) = %d, want %d", id, seq, tail, v, want)
		}
	}
	check("a", 1, false, inOrder)
	check("b", 5, false, first)
	check("c", 1, true, first)
	check("a", 2, false, inOrder)
	check("b", 5, false, duplicate)
	check("b", 4, false, duplicate)
	check("b", 5, true, inOrder)
	check("b", 7, false, skipped)
	check("c", 2, true, skipped)
	check("d", 1, false, inOrder) // forgets a, heard least recently
	if _, ok := s.last("a"); ok || s.len() != 3 {
		t.Errorf("a remembered (%v) or %d streams, want forgotten and 3", ok, s.len())
	}
	check("a", 3, false, first) // forgets b (c, then d, were heard after it)
	if _, ok := s.last("b"); ok {
		t.Error("b remembered, want forgotten (least recently heard)")
	}
}

// The sender's envelope, built in pieces, is what encode marshals.
func TestEnvelopeInPieces(t *testing.T) {
	p := gateway.Purge{Tags: []string{"a<b>&\"c\""}, ID: "i", Versions: map[string]uint64{"ns": 3}}
	h := head("node \"1\"", "inst-1")
	body, err := withPurge(h, p)
	if err != nil {
		t.Fatal(err)
	}
	got := stamp(body, 12, 7, 3)
	want, err := encode(envelope{Node: "node \"1\"", Member: "inst-1", Purge: &p, Age: 12, Prior: 7, Seq: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("in pieces:\n%s\nencode:\n%s", got, want)
	}
	tail := stamp(append([]byte(nil), h...), 1, 0, 9)
	if want, _ := encode(envelope{Node: "node \"1\"", Member: "inst-1", Age: 1, Seq: 9}); !bytes.Equal(tail, want) {
		t.Errorf("tail:\n%s\nencode:\n%s", tail, want)
	}
	e, err := decode(tail)
	if err != nil || e.Purge != nil || e.Seq != 9 {
		t.Errorf("decode(tail) = %+v, %v", e, err)
	}
	if _, err := withPurge(h, oversized()); err == nil {
		t.Error("an oversized purge was accepted")
	}
}

func TestBound(t *testing.T) {
	now := int64(1e12)
	for _, tc := range []struct {
		age, prior uint64
		want       int64
	}{
		{10, 10, now + slack},
		{0, 0, now + slack},
		{5, 10, now + slack}, // crafted: no interval
		{1_000_000, 0, now - 1e9 + 1e9/driftAllowance + slack},
		{1 << 62, 0, now - int64(maxInterval)*1000 + int64(maxInterval)*1000/driftAllowance + slack},
	} {
		if got := (envelope{Age: tc.age, Prior: tc.prior}).bound(now); got != tc.want {
			t.Errorf("bound(age %d, prior %d) = %d, want %d", tc.age, tc.prior, got, tc.want)
		}
	}
}
