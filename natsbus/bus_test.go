package natsbus

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/moatproxy/moat/gateway"
	"github.com/moatproxy/moat/internal/natstest"
)

// startServer starts a real nats-server (natstest), with room for an
// oversized message.
func startServer(t *testing.T) *natstest.Server {
	return natstest.Start(t, natstest.Options{MaxPayload: 4 << 20})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronization
	}
}

// node is one member, with what it was told.
type node struct {
	bus     *Bus
	publish func(gateway.Purge)
	leave   func()

	mu     sync.Mutex
	purges []gateway.Purge
	losses int
}

func (n *node) deliver(p gateway.Purge) {
	n.mu.Lock()
	n.purges = append(n.purges, p)
	n.mu.Unlock()
}

func (n *node) lost() {
	n.mu.Lock()
	n.losses++
	n.mu.Unlock()
}

// tags returns the first tag of each purge delivered, in order.
func (n *node) tags() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, p := range n.purges {
		out = append(out, p.Tags[0])
	}
	return out
}

func (n *node) lostCount() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.losses
}

func newBus(t *testing.T, o Options) *Bus {
	t.Helper()
	b, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func join(t *testing.T, b *Bus) *node {
	n := &node{bus: b}
	n.publish, n.leave = b.Join(n.deliver, n.lost)
	t.Cleanup(n.leave)
	return n
}

// fleet starts one Bus with one member per name.
func fleet(t *testing.T, url string, names ...string) []*node {
	t.Helper()
	var out []*node
	for _, name := range names {
		out = append(out, join(t, newBus(t, Options{URL: url, Node: name})))
	}
	return out
}

func purge(tag string) gateway.Purge { return gateway.Purge{Tags: []string{tag}, ID: "id-" + tag} }

func TestBus(t *testing.T) {
	srv := startServer(t)

	t.Run("others_get_it_sender_does_not", func(t *testing.T) {
		nodes := fleet(t, srv.URL(), "a", "b", "c")
		a, b, c := nodes[0], nodes[1], nodes[2]
		a.publish(purge("from-a"))
		waitFor(t, "b and c", func() bool { return len(b.tags()) == 1 && len(c.tags()) == 1 })
		// b's purge goes out after a's reached b, so a reads its own echo
		// (if it did not drop it) before b's.
		b.publish(purge("from-b"))
		waitFor(t, "a and c", func() bool { return len(a.tags()) == 1 && len(c.tags()) == 2 })
		if got := strings.Join(a.tags(), ","); got != "from-b" {
			t.Errorf("a got %q, want only from-b", got)
		}
		if got := strings.Join(c.tags(), ","); got != "from-a,from-b" {
			t.Errorf("c got %q, want from-a,from-b", got)
		}
		b.mu.Lock()
		if p := b.purges[0]; p.ID != "id-from-a" {
			t.Errorf("purge arrived as %+v, want its ID kept", p)
		}
		b.mu.Unlock()
		st := a.bus.Stats()
		if st.Published != 1 || st.Received != 1 || st.Dropped != 0 || st.Lost != 0 || !st.Connected {
			t.Errorf("a's stats %+v, want 1 published, 1 received, connected, nothing dropped or lost", st)
		}
		for i, n := range nodes {
			if n.lostCount() != 0 {
				t.Errorf("node %d told lost %d times, want 0 on a steady connection", i, n.lostCount())
			}
		}
	})

	t.Run("members_of_one_bus_hear_each_other", func(t *testing.T) {
		bus := newBus(t, Options{URL: srv.URL(), Subject: "moat.one"})
		m1, m2 := join(t, bus), join(t, bus)
		m1.publish(purge("x"))
		waitFor(t, "m2", func() bool { return len(m2.tags()) == 1 })
		m2.publish(purge("y"))
		waitFor(t, "m1", func() bool { return len(m1.tags()) == 1 })
		if m1.tags()[0] != "y" || m2.tags()[0] != "x" {
			t.Errorf("m1 got %v, m2 got %v, want [y] and [x]", m1.tags(), m2.tags())
		}
	})

	t.Run("malformed_messages_dropped_and_counted", func(t *testing.T) {
		nodes := fleet(t, srv.URL(), "a", "b")
		a, b := nodes[0], nodes[1]
		app, err := natsgo.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer app.Close()
		big := `{"member":"x","seq":1,"purge":{"tags":["` + strings.Repeat("t", maxMessage) + `"]}}`
		for _, body := range []string{"not json", `{"seq":1,"purge":{"tags":["no member"]}}`, big, `{"member":1,"seq":1}`,
			`{"member":"x","purge":{"tags":["no seq"]}}`, `{"member":"x","seq":-1}`} {
			if err := app.Publish(DefaultSubject, []byte(body)); err != nil {
				t.Fatal(err)
			}
		}
		if err := app.Flush(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "six malformed", func() bool { return a.bus.Stats().Malformed == 6 && b.bus.Stats().Malformed == 6 })
		a.publish(purge("after"))
		waitFor(t, "the bus still works", func() bool { return len(b.tags()) == 1 })
		if len(a.tags()) != 0 {
			t.Errorf("a got %v, want nothing", a.tags())
		}
	})

	t.Run("oversized_purge_not_sent", func(t *testing.T) {
		nodes := fleet(t, srv.URL(), "a", "b")
		a, b := nodes[0], nodes[1]
		a.publish(gateway.Purge{Tags: []string{strings.Repeat("t", maxMessage)}})
		if got := a.bus.Stats().Dropped; got != 1 {
			t.Errorf("Dropped = %d, want 1", got)
		}
		a.publish(purge("small"))
		waitFor(t, "the next purge", func() bool { return len(b.tags()) == 1 })
		if b.tags()[0] != "small" {
			t.Errorf("b got %v, want [small]", b.tags())
		}
	})

	t.Run("after_leave_and_close", func(t *testing.T) {
		bus, err := New(Options{URL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		n := join(t, bus)
		n.leave()
		n.publish(purge("gone")) // counted, no panic
		bus.Close()
		bus.Close()
		publish, leave := bus.Join(func(gateway.Purge) {}, nil)
		publish(purge("closed"))
		leave()
		if st := bus.Stats(); st.Dropped != 2 || st.Connected {
			t.Errorf("stats %+v, want 2 dropped, not connected", st)
		}
	})
}

func TestBusSlowMembersAreToldLost(t *testing.T) {
	srv := startServer(t)
	nodes := fleet(t, srv.URL(), "a", "b")
	a, b := nodes[0], nodes[1]
	if err := b.bus.sub.SetPendingLimits(5, 1<<20); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	slow := &node{bus: b.bus}
	first := true
	_, leave := b.bus.Join(func(p gateway.Purge) {
		if first {
			first = false
			<-release // holds the subscription's goroutine: the client's buffer fills
		}
		slow.deliver(p)
	}, slow.lost)
	defer leave()
	for i := range 100 {
		a.publish(purge(strconv.Itoa(i)))
	}
	waitFor(t, "lost on b's members", func() bool { return slow.lostCount() >= 1 && b.lostCount() >= 1 })
	close(release)
	if a.lostCount() != 0 {
		t.Errorf("a told lost %d times, want 0: it kept up", a.lostCount())
	}
	// With a buffer of 5, the rest of the burst may overflow it again: keep
	// publishing until a purge gets through.
	waitFor(t, "the bus still works", func() bool {
		a.publish(purge("after"))
		tags := slow.tags()
		return len(tags) > 0 && tags[len(tags)-1] == "after"
	})
}

func TestBusServerRestart(t *testing.T) {
	srv := startServer(t)
	nodes := fleet(t, srv.URL(), "a", "b", "c")
	a, b, c := nodes[0], nodes[1], nodes[2]
	a.publish(purge("before"))
	waitFor(t, "before", func() bool { return len(b.tags()) == 1 && len(c.tags()) == 1 })

	srv.Stop()
	waitFor(t, "all disconnected", func() bool {
		return !a.bus.Stats().Connected && !b.bus.Stats().Connected && !c.bus.Stats().Connected
	})
	srv.Start()
	waitFor(t, "lost on every member", func() bool {
		return a.lostCount() > 0 && b.lostCount() > 0 && c.lostCount() > 0
	})
	a.publish(purge("after"))
	waitFor(t, "after", func() bool { return len(b.tags()) == 2 && len(c.tags()) == 2 })
	if b.tags()[1] != "after" || len(a.tags()) != 0 {
		t.Errorf("b got %v, a got %v, want b [before after], a nothing", b.tags(), a.tags())
	}
	if st := b.bus.Stats(); st.Lost == 0 || !st.Connected {
		t.Errorf("b's stats %+v, want Lost > 0, connected", st)
	}
}

func TestBusLostEveryGraceWhileDown(t *testing.T) {
	srv := startServer(t)
	bus := newBus(t, Options{URL: srv.URL(), Grace: 100 * time.Millisecond})
	n := join(t, bus)
	srv.Stop()
	waitFor(t, "lost twice while down", func() bool { return n.lostCount() >= 2 })
	if bus.Stats().Connected {
		t.Error("connected with the server down")
	}
}

func TestBusStartsWithoutServer(t *testing.T) {
	srv := startServer(t)
	url := srv.URL()
	srv.Stop()
	bus, err := New(Options{URL: url, Grace: time.Hour})
	if err != nil {
		t.Fatalf("New with the server away: %v", err)
	}
	t.Cleanup(bus.Close)
	n := join(t, bus) // joins before the bus could hear anything
	other := fleetLater(t, srv, url)
	waitFor(t, "lost once connected", func() bool { return n.lostCount() == 1 })
	waitFor(t, "connected", func() bool { return bus.Stats().Connected })
	other.publish(purge("hello"))
	waitFor(t, "delivered", func() bool { return len(n.tags()) == 1 })
}

// fleetLater starts the server again and joins a second node to it.
func fleetLater(t *testing.T, srv *natstest.Server, url string) *node {
	t.Helper()
	srv.Start()
	return join(t, newBus(t, Options{URL: url}))
}

func TestNewChecksOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"no_url", Options{}},
		{"malformed_url", Options{URL: "nats://[::1"}},
		{"bad_subject", Options{URL: "nats://127.0.0.1:1", Subject: "a b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(tc.o)
			if !errors.Is(err, ErrOptions) {
				t.Errorf("New = %v, want ErrOptions", err)
			}
			if b != nil {
				b.Close()
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"node":"a","member":"m-1","purge":{"tags":["t"],"versions":{"ns":3}},"age":12,"prior":7,"seq":3}`))
	f.Add([]byte(`{"node":"a","member":"m-1","age":12,"prior":7,"seq":3}`))
	f.Add([]byte(`{"member":"m-1","purge":{"tags":["no seq"]}}`))
	f.Add([]byte(`{"member":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decode(data)
		if err != nil {
			return
		}
		if e.Member == "" || e.Seq == 0 || len(data) > maxMessage {
			t.Errorf("accepted %q as %+v", data, e)
		}
		if _, err := encode(e); err != nil && len(data) <= maxMessage/2 {
			t.Errorf("re-encoding %+v: %v", e, err)
		}
	})
}
