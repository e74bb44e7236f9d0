package events

import (
	"context"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := Backoff{First: 100 * time.Millisecond, Max: 400 * time.Millisecond}
	for i, want := range []time.Duration{100, 200, 400, 400, 400} {
		want *= time.Millisecond
		if got := b.Next(); got < want*8/10 || got > want*12/10 {
			t.Errorf("wait %d = %v, want %v ± 20%%", i, got, want)
		}
	}
	b.Reset()
	if got := b.Next(); got > 120*time.Millisecond {
		t.Errorf("after Reset: %v, want about First", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if (&Backoff{First: time.Hour, Max: time.Hour}).Wait(ctx) {
		t.Error("Wait reported true with its context ended")
	}
}
