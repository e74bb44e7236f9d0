package cache

import (
	"context"
	"testing"
	"time"
)

// TestMemoryDeleteIf: DeleteIf removes a key only while it holds the entry
// with the given ID, and the removal is counted out of the budget.
func TestMemoryDeleteIf(t *testing.T) {
	m, err := NewMemory(MemoryOptions{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	now := time.Now()
	mine := &Entry{ID: NewEntryID(), Key: "k", Status: 200, Body: []byte("mine"), KeepUntil: now.Add(time.Hour)}
	later := &Entry{ID: NewEntryID(), Key: "k", Status: 200, Body: []byte("later"), KeepUntil: now.Add(time.Hour)}
	if err := m.Set(ctx, "k", later); err != nil {
		t.Fatal(err)
	}
	if m.DeleteIf("k", mine.ID) {
		t.Error("DeleteIf of another entry's ID reported a removal")
	}
	if got, _ := m.Get(ctx, "k"); got == nil || got.ID != later.ID {
		t.Fatalf("after DeleteIf of another ID: got %v, want the later entry", got)
	}
	if !m.DeleteIf("k", later.ID) {
		t.Error("DeleteIf of the stored entry's ID reported nothing removed")
	}
	if got, _ := m.Get(ctx, "k"); got != nil {
		t.Fatalf("after DeleteIf of its ID: %q still stored", got.Body)
	}
	if st := m.Stats(); st.Entries != 0 || st.Bytes != 0 {
		t.Errorf("stats after the removal: %d entries, %d bytes; want none", st.Entries, st.Bytes)
	}
	if m.DeleteIf("missing", mine.ID) {
		t.Error("DeleteIf of a missing key reported a removal")
	}
}
