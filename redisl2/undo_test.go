package redisl2

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/internal/redistest"
)

// standalone is a client of a redis-server of the test's own.
func standalone(t *testing.T) (*Client, rueidis.Client) {
	t.Helper()
	srv := redistest.Standalone(t)
	c, err := New(Options{Addrs: []string{srv.Addr}, KeyPrefix: "t:"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	rc, err := c.r()
	if err != nil {
		t.Fatal(err)
	}
	return c, rc
}

// TestUndoTakesOnlyItsOwnEntry: the deletes that follow a SET (a tag's
// fence seen after it, a pipeline that failed part way) remove the key
// only while it holds that SET's entry: a later writer's entry under the
// same key (another node's fill, a write-through) stays.
func TestUndoTakesOnlyItsOwnEntry(t *testing.T) {
	c, rc := standalone(t)
	ctx := context.Background()
	const key = "GET http://api.example/books/3"
	entry := func() *cache.Entry {
		now := time.Now()
		return &cache.Entry{ID: cache.NewEntryID(), Key: key, Status: 200, Header: http.Header{}, Body: []byte("b"),
			RequestTime: now, ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Hour)}
	}
	mine, later := entry(), entry()
	if err := c.Tier().Set(ctx, key, later); err != nil {
		t.Fatal(err)
	}
	val, err := c.encode(mine)
	if err != nil {
		t.Fatal(err)
	}
	ek := c.entryKey(key)
	c.undo(rc, ek, string(val[1:1+idBytes]))
	if got, _ := c.Tier().Get(ctx, key); got == nil || got.ID != later.ID {
		t.Fatalf("after the undo of another entry: got %v, want the later writer's %x", got, later.ID)
	}
	val, err = c.encode(later)
	if err != nil {
		t.Fatal(err)
	}
	c.undo(rc, ek, string(val[1:1+idBytes]))
	if got, _ := c.Tier().Get(ctx, key); got != nil {
		t.Fatalf("after the undo of its own entry: %x still there", got.ID)
	}
}

// TestSetLoadsItsScript: the fenced store runs by EVALSHA in the write's
// pipeline; a server that lost its scripts (a restart, SCRIPT FLUSH) gets
// the script once by EVAL, and the entry is stored.
func TestSetLoadsItsScript(t *testing.T) {
	c, rc := standalone(t)
	ctx := context.Background()
	for i := range 2 {
		if err := rc.Do(ctx, rc.B().ScriptFlush().Build()).Error(); err != nil {
			t.Fatal(err)
		}
		key := "GET http://api.example/books/" + string(rune('a'+i))
		now := time.Now()
		e := &cache.Entry{ID: cache.NewEntryID(), Key: key, Status: 200, Header: http.Header{}, Body: []byte("b"),
			RequestTime: now, ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Hour)}
		if err := c.Tier().Set(ctx, key, e); err != nil {
			t.Fatalf("Set after SCRIPT FLUSH: %v", err)
		}
		if got, _ := c.Tier().Get(ctx, key); got == nil || got.ID != e.ID {
			t.Fatalf("after SCRIPT FLUSH: got %v, want the entry stored", got)
		}
		exists, err := rc.Do(ctx, rc.B().ScriptExists().Sha1(setUnlessFencedSHA).Build()).AsIntSlice()
		if err != nil || len(exists) != 1 || exists[0] != 1 {
			t.Fatalf("SCRIPT EXISTS of the store's script: %v %v, want it loaded (its SHA1 is the one sent)", exists, err)
		}
	}
}
