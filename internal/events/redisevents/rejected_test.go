package redisevents

import (
	"context"
	"errors"
	"testing"

	"github.com/moatproxy/moat/internal/config"
	"github.com/moatproxy/moat/internal/events"
	"github.com/moatproxy/moat/internal/redistest"
)

// TestRejectedSettings checks that Run gives up, with ErrRejected, on
// settings Redis rejects before the source ever ran, instead of retrying
// them for ever.
func TestRejectedSettings(t *testing.T) {
	srv := redistest.Standalone(t)
	// A user that may touch only the keys and channels named allowed*.
	srv.Do(t, "ACL", "SETUSER", "app", "on", ">pw", "~allowed*", "&allowed*", "+@all")
	srv.Do(t, "SET", "allowed-string", "not a stream")
	pubsub := func(edit func(*config.RedisPubSubSource)) func(t *testing.T) events.Source {
		return func(t *testing.T) events.Source {
			cfg := config.RedisPubSubSource{Addrs: []string{srv.Addr}, Channels: []string{"allowed"}, Username: "app", Password: "pw"}
			edit(&cfg)
			p, err := NewPubSub(cfg, "test", nil)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	stream := func(edit func(*config.RedisStreamSource)) func(t *testing.T) events.Source {
		return func(t *testing.T) events.Source {
			cfg := config.RedisStreamSource{Addrs: []string{srv.Addr}, Stream: "allowed", Username: "app", Password: "pw"}
			edit(&cfg)
			s, err := NewStream(cfg, "test", "n1", nil)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	for _, tc := range []struct {
		name string
		src  func(t *testing.T) events.Source
	}{
		{"pubsub_wrong_password", pubsub(func(c *config.RedisPubSubSource) { c.Password = "wrong" })},
		{"pubsub_channel_not_allowed", pubsub(func(c *config.RedisPubSubSource) { c.Channels = []string{"secret"} })},
		{"pubsub_no_such_db", pubsub(func(c *config.RedisPubSubSource) { c.DB = 99 })},
		{"stream_wrong_password", stream(func(c *config.RedisStreamSource) { c.Password = "wrong" })},
		{"stream_key_not_allowed", stream(func(c *config.RedisStreamSource) { c.Stream = "secret" })},
		{"stream_key_not_a_stream", stream(func(c *config.RedisStreamSource) { c.Stream = "allowed-string" })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src(t)
			ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
			defer cancel()
			err := src.Run(ctx, func(context.Context, events.Message) error { return nil })
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("Run = %v, want ErrRejected", err)
			}
			if st := src.Status(); st.Connected || st.LastError == "" {
				t.Errorf("Status = %+v, want not connected, with the error", st)
			}
		})
	}

	t.Run("allowed_settings_run", func(t *testing.T) {
		s := stream(func(*config.RedisStreamSource) {})(t)
		var rec recorder
		start(t, s, rec.Deliver)
		waitUntil(t, "connected", func() bool { return s.Status().Connected })
	})
}
