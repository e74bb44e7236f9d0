package redisevents

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/redistest"
)

// TestFrozenServer checks that both sources notice a server that stops
// answering without closing their connections (SIGSTOP: the kernel keeps
// them open), and resume when it answers again.
func TestFrozenServer(t *testing.T) {
	srv := redistest.Standalone(t)
	app := appClient(t, srv.Addr)
	p := newTestPubSub(t, srv.Addr, []string{"c"}, nil)
	s := newTestStream(t, srv.Addr, "frozen", "n1", func(c *config.RedisStreamSource) { c.ClaimAfter = config.Duration(2 * time.Second) })
	p.conn.timeout, s.conn.timeout = time.Second, time.Second
	var fromPubSub, fromStream recorder
	start(t, p, fromPubSub.Deliver)
	start(t, s, fromStream.Deliver)
	waitUntil(t, "both connected", func() bool { return p.Status().Connected && s.Status().Connected })

	srv.Freeze()
	waitUntil(t, "both see the loss", func() bool { return !p.Status().Connected && !s.Status().Connected })
	srv.Thaw()
	waitUntil(t, "both connected again", func() bool { return p.Status().Connected && s.Status().Connected })

	publish(t, app, "c", "after")
	xadd(t, app, "frozen", "data", "after")
	waitUntil(t, "both deliver again", func() bool { return fromPubSub.Len() == 1 && fromStream.Len() == 1 })
	for _, st := range []struct {
		name string
		err  string
	}{{"pubsub", p.Status().LastError}, {"stream", s.Status().LastError}} {
		if st.err == "" {
			t.Errorf("%s: no LastError after the freeze", st.name)
		}
	}
}

// TestStartsBeforeRedis checks that a source started while its Redis is
// down keeps trying, and reads once Redis is up.
func TestStartsBeforeRedis(t *testing.T) {
	srv := redistest.Standalone(t)
	srv.Kill()
	p := newTestPubSub(t, srv.Addr, []string{"c"}, nil)
	s := newTestStream(t, srv.Addr, "late", "n1", nil)
	var fromPubSub, fromStream recorder
	start(t, p, fromPubSub.Deliver)
	start(t, s, fromStream.Deliver)
	waitUntil(t, "both record the refused connection", func() bool {
		return p.Status().LastError != "" && s.Status().LastError != ""
	})

	srv.Restart(t)
	waitUntil(t, "both connected", func() bool { return p.Status().Connected && s.Status().Connected })
	app := appClient(t, srv.Addr)
	publish(t, app, "c", "hello")
	xadd(t, app, "late", "data", "hello")
	waitUntil(t, "both deliver", func() bool { return fromPubSub.Len() == 1 && fromStream.Len() == 1 })
}

func TestPubSubResubscribesAfterRestart(t *testing.T) {
	srv := redistest.Standalone(t)
	app := appClient(t, srv.Addr)
	p := newTestPubSub(t, srv.Addr, []string{"c"}, []string{"p.*"})
	var rec recorder
	start(t, p, rec.Deliver)
	waitUntil(t, "subscribed", func() bool { return p.Status().Connected })
	publish(t, app, "c", "before")
	waitUntil(t, "the first message delivered", func() bool { return rec.Len() == 1 })

	srv.Kill()
	waitUntil(t, "the source sees the loss", func() bool { return !p.Status().Connected })
	if st := p.Status(); st.LastError == "" {
		t.Errorf("Status = %+v, want the connection's error", st)
	}
	srv.Restart(t)
	waitUntil(t, "subscribed again", func() bool { return p.Status().Connected })

	// The application's client reconnects on its own schedule: publish
	// until Redis counts a subscriber of each.
	for _, ch := range []string{"c", "p.x"} {
		waitUntil(t, "a subscriber of "+ch, func() bool {
			n, err := app.Do(context.Background(), app.B().Publish().Channel(ch).Message("after "+ch).Build()).AsInt64()
			return err == nil && n == 1
		})
	}
	waitUntil(t, "the messages after the restart delivered", func() bool { return rec.Len() >= 3 })
	if got, want := rec.Data()[:3], []string{"before", "after c", "after p.x"}; !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
}

func TestStreamReconnectsAfterRestart(t *testing.T) {
	srv := redistest.Standalone(t)
	app := appClient(t, srv.Addr)
	s := newTestStream(t, srv.Addr, "events", "n1", nil)
	var rec recorder
	start(t, s, rec.Deliver)
	xadd(t, app, "events", "data", "before")
	waitUntil(t, "the first entry delivered", func() bool { return rec.Len() == 1 })

	srv.Kill()
	waitUntil(t, "the source sees the loss", func() bool { return !s.Status().Connected })
	srv.Restart(t) // without persistence: the stream and group are gone
	waitUntil(t, "group created again", func() bool { return s.Status().Connected })
	waitUntil(t, "the application reconnected", func() bool {
		return app.Do(context.Background(), app.B().Xadd().Key("events").Id("*").FieldValue().FieldValue("data", "after").Build()).Error() == nil
	})
	waitUntil(t, "the entry after the restart delivered", func() bool { return rec.Len() >= 2 })
	if got := rec.Data(); !slices.Equal(got, []string{"before", "after"}) {
		t.Errorf("delivered %q, want [before after]", got)
	}
	if st := s.Status(); st.LastError == "" {
		t.Errorf("Status = %+v, want the connection's error", st)
	}
}
