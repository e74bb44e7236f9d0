// Package tiertest is a conformance suite for cache.Tier implementations.
//
// A tier's own tests call Run with a constructor of empty tiers:
//
//	func TestConformance(t *testing.T) {
//		tiertest.Run(t, func(t *testing.T) cache.Tier {
//			m, err := cache.NewMemory(cache.MemoryOptions{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { m.Close() })
//			return m
//		})
//	}
//
// Each case is a named subtest whose comment states the contract it checks.
// Entries are compared by content, field by field (see Diff), never by
// pointer, so a remote tier that returns decoded copies passes the same
// suite as an in-process one; pointer identity is checked only for tiers that
// declare it (Options.SharesEntries). Run the suite with -race: the
// concurrent_use case is only as good as the race detector behind it.
package tiertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
)

// Options describe what a tier can do, for the cases that depend on it. The
// zero value suits an in-process tier that copies nothing and accepts
// entries of a few MiB.
type Options struct {
	// SharesEntries declares that Get returns the very *Entry that Set
	// was given (an in-process tier). The suite then also checks that
	// identity, which gateway code compares today; every other case
	// compares content only. Leave it false for a tier that encodes.
	SharesEntries bool

	// LargeBody is the body size, in bytes, of the large entry the tier
	// must store and return whole. Default 1 MiB.
	LargeBody int
	// TooLargeBody, if positive, is a body size the tier rejects with
	// cache.ErrTooLarge; the too_large case is skipped when it is zero.
	TooLargeBody int

	// KeepFor is how far ahead of now the expiry case sets KeepUntil.
	// Default 50ms; a tier with a coarser expiry clock needs more.
	KeepFor time.Duration
	// ExpiryWithin is how long past KeepUntil the entry may still be
	// returned before the expiry case fails. Default 3s.
	ExpiryWithin time.Duration

	// Prompt bounds how long a call with a canceled context may take.
	// Default 2s (generous: it separates "returns" from "hangs", on a
	// loaded machine under -race).
	Prompt time.Duration
}

func (o Options) withDefaults() Options {
	if o.LargeBody <= 0 {
		o.LargeBody = 1 << 20
	}
	if o.KeepFor <= 0 {
		o.KeepFor = 50 * time.Millisecond
	}
	if o.ExpiryWithin <= 0 {
		o.ExpiryWithin = 3 * time.Second
	}
	if o.Prompt <= 0 {
		o.Prompt = 2 * time.Second
	}
	return o
}

// Run runs the suite with the default Options. newTier must return a new,
// empty tier each time it is called (one per case) and register its cleanup
// with t.Cleanup.
func Run(t *testing.T, newTier func(t *testing.T) cache.Tier) {
	t.Helper()
	RunWith(t, newTier, Options{})
}

// RunWith runs the suite with the given Options.
func RunWith(t *testing.T, newTier func(t *testing.T) cache.Tier, o Options) {
	t.Helper()
	o = o.withDefaults()
	s := suite{o: o, newTier: newTier}
	for _, c := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"miss_is_nil_nil", s.missIsNilNil},
		{"round_trip", s.roundTrip},
		{"shares_entries", s.sharesEntries},
		{"set_replaces", s.setReplaces},
		{"delete_removes", s.deleteRemoves},
		{"delete_missing_is_not_an_error", s.deleteMissing},
		{"keys_are_distinct", s.keysAreDistinct},
		{"keep_until_expires", s.keepUntilExpires},
		{"concurrent_use", s.concurrentUse},
		{"canceled_context", s.canceledContext},
		{"large_entry", s.largeEntry},
		{"too_large", s.tooLarge},
		{"invalidate", s.invalidate},
		{"invalidate_fences_older_fills", s.invalidateFences},
		{"replace_outlives_overtaken_fill", s.replaceOutlivesOvertakenFill},
	} {
		t.Run(c.name, c.run)
	}
}

type suite struct {
	o       Options
	newTier func(t *testing.T) cache.Tier
}

// get calls tier.Get and fails the test on an error: in these cases the tier
// is up, so an error is a failure, not a miss.
func get(t *testing.T, tier cache.Tier, key string) *cache.Entry {
	t.Helper()
	e, err := tier.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): err = %v, want nil", key, err)
	}
	return e
}

func set(t *testing.T, tier cache.Tier, key string, e *cache.Entry) {
	t.Helper()
	if err := tier.Set(context.Background(), key, e); err != nil {
		t.Fatalf("Set(%q): err = %v, want nil", key, err)
	}
}

func del(t *testing.T, tier cache.Tier, key string) {
	t.Helper()
	if err := tier.Delete(context.Background(), key); err != nil {
		t.Fatalf("Delete(%q): err = %v, want nil", key, err)
	}
}

// wantEntry fails unless got has want's content.
func wantEntry(t *testing.T, key string, got, want *cache.Entry) {
	t.Helper()
	if got == nil {
		t.Fatalf("Get(%q) = nil, want the entry stored under it", key)
	}
	if d := Diff(want, got); d != "" {
		t.Fatalf("Get(%q) differs from the entry stored (-want +got):\n%s", key, d)
	}
}

// Contract: Get of a key never stored returns (nil, nil); a miss is not an
// error (an error means the tier could not answer).
func (s suite) missIsNilNil(t *testing.T) {
	tier := s.newTier(t)
	e, err := tier.Get(context.Background(), "tiertest\x00never-stored")
	if e != nil || err != nil {
		t.Fatalf("Get of a missing key = (%v, %v), want (nil, nil)", e, err)
	}
}

// Contract: Set then Get returns an entry equal to the one stored in every
// field (headers and body included, times to the nanosecond, Entry.ID if
// the type has one), and Set does not modify the entry it is given.
func (s suite) roundTrip(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		name string
		e    *cache.Entry
	}{
		{"full", FullEntry(t, "tiertest\x00full", now)},
		{"minimal", &cache.Entry{Key: "tiertest\x00minimal", Status: 204, KeepUntil: now.Add(time.Hour)}},
		{"vary_marker", &cache.Entry{Key: "tiertest\x00vary", VaryMarker: true, Vary: []string{"Accept-Encoding", "X-Tenant"}, VaryEpoch: 1<<63 + 5, KeepUntil: now.Add(time.Hour)}},
		{"hit_for_miss", &cache.Entry{Key: "tiertest\x00hfm", HitForMiss: true, NotStoredReason: "no-store", KeepUntil: now.Add(time.Hour)}},
		{"empty_values", &cache.Entry{Key: "tiertest\x00empty", Status: 200, Header: http.Header{"X-Empty": {""}, "X-Two": {"", "b"}}, Body: []byte{}, Tags: []string{""}, KeepUntil: now.Add(time.Hour)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tier := s.newTier(t)
			setID(c.e)
			given := DeepCopy(c.e)
			set(t, tier, c.e.Key, c.e)
			if d := Diff(given, c.e); d != "" {
				t.Fatalf("Set modified the entry it was given (-before +after):\n%s", d)
			}
			wantEntry(t, c.e.Key, get(t, tier, c.e.Key), given)
		})
	}
}

// Contract (only for tiers with Options.SharesEntries): Get returns the
// pointer Set was given. Gateway code compares entries by pointer until
// Entry.ID replaces it, and that works only over such a tier.
func (s suite) sharesEntries(t *testing.T) {
	if !s.o.SharesEntries {
		t.Skip("the tier does not declare Options.SharesEntries: entries are compared by content only")
	}
	tier := s.newTier(t)
	e := FullEntry(t, "tiertest\x00shared", time.Now())
	set(t, tier, e.Key, e)
	if got := get(t, tier, e.Key); got != e {
		t.Fatalf("Get returned %p, want the pointer stored, %p", got, e)
	}
}

// Contract: Set replaces any entry under the key, whatever their sizes;
// Get returns the last one, never the first or a mix of both.
func (s suite) setReplaces(t *testing.T) {
	tier := s.newTier(t)
	now := time.Now()
	const key = "tiertest\x00replace"
	first := FullEntry(t, key, now)
	second := &cache.Entry{
		Key: key, Status: 404, Header: http.Header{"Content-Type": {"text/plain"}},
		Body: []byte("second"), ResponseTime: now, Lifetime: time.Minute, KeepUntil: now.Add(time.Hour),
	}
	third := FullEntry(t, key, now)
	third.Body = bytes.Repeat([]byte("third "), 10_000)
	for _, e := range []*cache.Entry{first, second, third, second} {
		setID(e)
		set(t, tier, key, e)
		wantEntry(t, key, get(t, tier, key), e)
	}
}

// Contract: after Delete, Get misses; Delete removes only that key.
func (s suite) deleteRemoves(t *testing.T) {
	tier := s.newTier(t)
	now := time.Now()
	gone, kept := FullEntry(t, "tiertest\x00gone", now), FullEntry(t, "tiertest\x00kept", now)
	set(t, tier, gone.Key, gone)
	set(t, tier, kept.Key, kept)
	del(t, tier, gone.Key)
	if e := get(t, tier, gone.Key); e != nil {
		t.Fatalf("Get after Delete = %q, want nil", e.Key)
	}
	wantEntry(t, kept.Key, get(t, tier, kept.Key), kept)
	// A key can be stored again after its Delete.
	set(t, tier, gone.Key, gone)
	wantEntry(t, gone.Key, get(t, tier, gone.Key), gone)
}

// Contract: deleting a key that is not stored (never was, or already
// deleted) returns nil: purges delete without looking first.
func (s suite) deleteMissing(t *testing.T) {
	tier := s.newTier(t)
	del(t, tier, "tiertest\x00never-stored")
	e := FullEntry(t, "tiertest\x00twice", time.Now())
	set(t, tier, e.Key, e)
	del(t, tier, e.Key)
	del(t, tier, e.Key)
	if got := get(t, tier, e.Key); got != nil {
		t.Fatalf("Get after two Deletes = %q, want nil", got.Key)
	}
}

// DistinctKeys are keys that a tier must keep apart: prefixes of one
// another, moat's "\x00" separators in every position, bytes that are not
// UTF-8, case and whitespace variants, and a long key. A tier that hashes,
// escapes, trims or truncates keys, or deletes by prefix, confuses some.
func DistinctKeys() []string {
	long := strings.Repeat("/segment", 512) // 4 KiB
	return []string{
		"k", "k\x00", "k\x00\x00", "k\x00s", "k\x00s\x00", "\x00k", "\x00",
		"K", "k ", " k", "k\n", "k\xff", "k\xfe\xff", "k\xc3\xa9", "ké",
		"GET\x00example.com/a", "GET\x00example.com/a\x00v1", "GET\x00example.com/ab",
		"k*", "k?", "k[", "{k}", "k:1", "k%00",
		long, long + "\x00", long[:len(long)-1],
	}
}

// Contract: every key stores its own entry, however close to another key it
// is, and Delete of one key (a prefix of others) removes no other.
func (s suite) keysAreDistinct(t *testing.T) {
	tier := s.newTier(t)
	keys := DistinctKeys()
	now := time.Now()
	entries := make(map[string]*cache.Entry, len(keys))
	for i, k := range keys {
		e := &cache.Entry{Key: k, Status: 200, Header: http.Header{"X-Index": {strconv.Itoa(i)}},
			Body: []byte(fmt.Sprintf("entry %d %q", i, k)), KeepUntil: now.Add(time.Hour)}
		setID(e)
		entries[k] = e
		set(t, tier, k, e)
	}
	for _, k := range keys {
		wantEntry(t, k, get(t, tier, k), entries[k])
	}
	for _, victim := range []string{"k", "\x00", "GET\x00example.com/a"} {
		del(t, tier, victim)
		delete(entries, victim)
		if e := get(t, tier, victim); e != nil {
			t.Fatalf("Get(%q) after its Delete = entry of %q, want nil", victim, e.Key)
		}
		for _, k := range keys {
			if want, ok := entries[k]; ok {
				if got := get(t, tier, k); got == nil {
					t.Fatalf("Delete(%q) removed %q too", victim, k)
				} else if d := Diff(want, got); d != "" {
					t.Fatalf("after Delete(%q), Get(%q) differs (-want +got):\n%s", victim, k, d)
				}
			}
		}
	}
}

// Contract: an entry is not returned long after its KeepUntil (the tier may
// drop it any time after, and must within Options.ExpiryWithin). Before its
// KeepUntil a stored entry is returned. An entry stored with a KeepUntil in
// the past is not kept either.
func (s suite) keepUntilExpires(t *testing.T) {
	tier := s.newTier(t)
	start := time.Now()
	soon := &cache.Entry{Key: "tiertest\x00soon", Status: 200, Body: []byte("soon"), KeepUntil: start.Add(s.o.KeepFor)}
	past := &cache.Entry{Key: "tiertest\x00past", Status: 200, Body: []byte("past"), KeepUntil: start.Add(-time.Minute)}
	later := &cache.Entry{Key: "tiertest\x00later", Status: 200, Body: []byte("later"), KeepUntil: start.Add(time.Hour)}
	for _, e := range []*cache.Entry{soon, past, later} {
		setID(e)
		set(t, tier, e.Key, e)
	}
	if got := get(t, tier, soon.Key); got == nil {
		// Only a failure if the Get completed before KeepUntil.
		if time.Now().Before(soon.KeepUntil) {
			t.Fatalf("Get(%q) before its KeepUntil = nil, want the entry", soon.Key)
		}
	} else {
		wantEntry(t, soon.Key, got, soon)
	}

	deadline := soon.KeepUntil.Add(s.o.ExpiryWithin)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for pending := []*cache.Entry{soon, past}; len(pending) > 0; {
		kept := pending[:0]
		for _, e := range pending {
			if got := get(t, tier, e.Key); got != nil {
				if got.Key != e.Key {
					t.Fatalf("Get(%q) returned the entry of %q", e.Key, got.Key)
				}
				kept = append(kept, e)
			}
		}
		pending = kept
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get(%q) still returns the entry %v after its KeepUntil, want nil within %v",
				pending[0].Key, time.Since(pending[0].KeepUntil).Round(time.Millisecond), s.o.ExpiryWithin)
		}
		<-tick.C
	}
	wantEntry(t, later.Key, get(t, tier, later.Key), later)
}

// Contract: the tier is safe for concurrent use: Set, Get and Delete from
// many goroutines on overlapping keys race on nothing (under -race), and
// every Get returns nil or a whole entry that was Set under that very key:
// never another key's entry, never a mix of two entries.
func (s suite) concurrentUse(t *testing.T) {
	tier := s.newTier(t)
	keys := []string{"c", "c\x00", "c\x00a", "c\x00b", "\x00c", "c\xff", "C", "cc"}
	const (
		goroutines = 8
		ops        = 600
	)
	keepUntil := time.Now().Add(time.Hour)
	ctx := context.Background()
	errs := make(chan error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 0x7e57))
			for i := range ops {
				key := keys[rng.IntN(len(keys))]
				var err error
				switch n := rng.IntN(10); {
				case n < 4:
					seq := fmt.Sprintf("%d.%d", g, i)
					e := &cache.Entry{Key: key, Status: 200 + g, Header: http.Header{"X-Seq": {seq}},
						Body: []byte(key + "#" + seq), KeepUntil: keepUntil}
					setID(e)
					err = tier.Set(ctx, key, e)
				case n < 9:
					var e *cache.Entry
					if e, err = tier.Get(ctx, key); err == nil && e != nil {
						err = checkConcurrentEntry(key, e)
					}
				default:
					err = tier.Delete(ctx, key)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// The tier still works once the storm is over.
	for _, k := range keys {
		e := &cache.Entry{Key: k, Status: 200, Body: []byte("after " + k), KeepUntil: keepUntil}
		setID(e)
		set(t, tier, k, e)
		wantEntry(t, k, get(t, tier, k), e)
	}
}

// checkConcurrentEntry reports an entry Get returned for key that no Set
// under key produced: another key's, or a mix of two.
func checkConcurrentEntry(key string, e *cache.Entry) error {
	if e.Key != key {
		return fmt.Errorf("Get(%q) returned the entry of key %q", key, e.Key)
	}
	seq := e.Header.Get("X-Seq")
	if want := key + "#" + seq; string(e.Body) != want {
		return fmt.Errorf("Get(%q): body %q does not match X-Seq %q: a torn or foreign entry", key, e.Body, seq)
	}
	var g, i int
	if _, err := fmt.Sscanf(seq, "%d.%d", &g, &i); err != nil || e.Status != 200+g {
		return fmt.Errorf("Get(%q): status %d and X-Seq %q do not belong together", key, e.Status, seq)
	}
	return nil
}

// Contract: Get, Set and Delete given a canceled (or expired) context return
// promptly, with an error or a result, never hang; a Set so interrupted
// stores the whole entry or nothing; and the tier keeps working for calls
// with a live context afterwards (a canceled call must not poison a
// connection or a lock).
func (s suite) canceledContext(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancelExpired := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancelExpired()
	for _, c := range []struct {
		name string
		ctx  context.Context
	}{{"canceled", canceled}, {"deadline_exceeded", expired}} {
		t.Run(c.name, func(t *testing.T) {
			tier := s.newTier(t)
			now := time.Now()
			stored := FullEntry(t, "tiertest\x00stored", now)
			set(t, tier, stored.Key, stored)
			fresh := FullEntry(t, "tiertest\x00fresh", now)

			s.prompt(t, "Get", func() error {
				e, err := tier.Get(c.ctx, stored.Key)
				if err == nil && e != nil {
					if d := Diff(stored, e); d != "" {
						return fmt.Errorf("returned a different entry (-want +got):\n%s", d)
					}
				}
				return nil
			})
			s.prompt(t, "Set", func() error { _ = tier.Set(c.ctx, fresh.Key, fresh); return nil })
			if got := get(t, tier, fresh.Key); got != nil {
				if d := Diff(fresh, got); d != "" {
					t.Fatalf("a Set with a canceled context stored part of the entry (-want +got):\n%s", d)
				}
			}
			s.prompt(t, "Delete", func() error { _ = tier.Delete(c.ctx, stored.Key); return nil })

			// Still usable with a live context.
			next := FullEntry(t, "tiertest\x00next", now)
			set(t, tier, next.Key, next)
			wantEntry(t, next.Key, get(t, tier, next.Key), next)
			del(t, tier, next.Key)
			if e := get(t, tier, next.Key); e != nil {
				t.Fatalf("Get after Delete = %q, want nil", e.Key)
			}
		})
	}
}

// prompt runs call and fails the test if it does not return within
// Options.Prompt. A call that hangs is left behind (its goroutine leaks
// until the tier lets it go): the test has failed anyway.
func (s suite) prompt(t *testing.T, op string, call func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	timer := time.NewTimer(s.o.Prompt)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s with a canceled context: %v", op, err)
		}
	case <-timer.C:
		t.Fatalf("%s with a canceled context did not return within %v", op, s.o.Prompt)
	}
}

// Contract: an entry with a body of Options.LargeBody bytes (default 1 MiB)
// and many header fields is stored and returned whole.
func (s suite) largeEntry(t *testing.T) {
	tier := s.newTier(t)
	e := FullEntry(t, "tiertest\x00large", time.Now())
	e.Body = make([]byte, s.o.LargeBody)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range e.Body {
		e.Body[i] = byte(rng.Uint32())
	}
	for i := range 100 {
		e.Header[fmt.Sprintf("X-Field-%03d", i)] = []string{strings.Repeat("v", i), strconv.Itoa(i)}
	}
	for i := range 200 {
		e.Tags = append(e.Tags, fmt.Sprintf("tag-%d", i))
	}
	e.Tags = e.Tags[:len(e.Tags):len(e.Tags)]
	set(t, tier, e.Key, e)
	wantEntry(t, e.Key, get(t, tier, e.Key), e)
}

// Contract (only with Options.TooLargeBody): Set of an entry larger than the
// tier accepts returns an error that is cache.ErrTooLarge, and Get does not
// return that entry afterwards.
func (s suite) tooLarge(t *testing.T) {
	if s.o.TooLargeBody <= 0 {
		t.Skip("Options.TooLargeBody not set: the tier declares no size limit")
	}
	tier := s.newTier(t)
	e := &cache.Entry{Key: "tiertest\x00too-large", Status: 200, Body: make([]byte, s.o.TooLargeBody), KeepUntil: time.Now().Add(time.Hour)}
	err := tier.Set(context.Background(), e.Key, e)
	if !errors.Is(err, cache.ErrTooLarge) {
		t.Fatalf("Set of a %d-byte body: err = %v, want cache.ErrTooLarge", s.o.TooLargeBody, err)
	}
	if got := get(t, tier, e.Key); got != nil && len(got.Body) == len(e.Body) {
		t.Fatal("Get returned the entry that Set rejected as too large")
	}
}

// Contract (cache.Invalidator only): Invalidate removes the entries under
// its keys, every entry stored with one of its tags, and every entry whose
// key's path starts with one of its prefixes; it leaves what none names,
// including entries under another segment than a prefix's, and a tag's
// entries that were replaced by an entry without the tag; Get never
// returns the tier's own bookkeeping in Tags.
func (s suite) invalidate(t *testing.T) {
	tier := s.newTier(t)
	inv, ok := tier.(cache.Invalidator)
	if !ok {
		t.Skip("not a cache.Invalidator")
	}
	now := time.Now()
	entry := func(key string, tags ...string) *cache.Entry {
		e := FullEntry(t, key, now)
		e.Tags = tags
		set(t, tier, key, e)
		return e
	}
	const host = "GET http://api.example"
	keep := map[string]*cache.Entry{}
	gone := map[string]*cache.Entry{}
	gone[host+"/by/key"] = entry(host+"/by/key", "x")
	gone[host+"/by/tag"] = entry(host+"/by/tag", "t1", "other")
	gone[host+"/by/tag2\x00variant"] = entry(host+"/by/tag2\x00variant", "t2")
	keep[host+"/by/untagged"] = entry(host+"/by/untagged", "other")
	gone[host+"/pre/fix/a?q=1"] = entry(host + "/pre/fix/a?q=1")
	gone[host+"/pre/fix/deep/er/still"] = entry(host + "/pre/fix/deep/er/still")
	keep[host+"/pre/other"] = entry(host + "/pre/other")
	keep[host+"/prefix"] = entry(host + "/prefix")
	// A key rewritten without a tag may go with the tag (a tier may
	// remove more than named): neither kept nor gone is checked.
	retagged := host + "/retagged"
	entry(retagged, "t1")
	entry(retagged, "fresh")

	n, err := inv.Invalidate(context.Background(), cache.Invalidation{
		Keys:     []string{host + "/by/key", host + "/never/stored"},
		Tags:     []string{"t1", "t2", "no-such-tag"},
		Prefixes: []string{"/pre/fix/"},
	})
	if err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	if n < len(gone) {
		t.Errorf("Invalidate removed %d entries, want at least %d", n, len(gone))
	}
	for k := range gone {
		if e := get(t, tier, k); e != nil {
			t.Errorf("Get(%q) after Invalidate: still there", k)
		}
	}
	for k, want := range keep {
		wantEntry(t, k, get(t, tier, k), want)
	}
}

// Contract (cache.Invalidator only): after Invalidate, a Set of an entry
// whose fill started before it (RequestTime) and that it covers (by key,
// tag or prefix) does not keep the entry; an entry whose fill started after
// it, by more than the clock skew between nodes a tier may allow for (at
// most a second), is kept.
func (s suite) invalidateFences(t *testing.T) {
	tier := s.newTier(t)
	inv, ok := tier.(cache.Invalidator)
	if !ok {
		t.Skip("not a cache.Invalidator")
	}
	const host = "GET http://api.example"
	before := time.Now().Add(-time.Second)
	_, err := inv.Invalidate(context.Background(), cache.Invalidation{
		Keys:     []string{host + "/fenced/key"},
		Tags:     []string{"fenced-tag"},
		Prefixes: []string{"/fenced/dir/"},
	})
	if err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	after := time.Now().Add(1500 * time.Millisecond)
	for _, c := range []struct{ key, tag string }{
		{host + "/fenced/key", "t-key"},
		{host + "/other/tagged", "fenced-tag"},
		{host + "/fenced/dir/leaf", "t-dir"},
	} {
		old := FullEntry(t, c.key, before)
		old.Tags, old.RequestTime = []string{c.tag}, before
		set(t, tier, c.key, old)
		if e := get(t, tier, c.key); e != nil {
			t.Errorf("Set(%q) of a fill that started before an invalidation covering it: kept", c.key)
		}
		fresh := FullEntry(t, c.key, after)
		fresh.Tags, fresh.RequestTime = []string{c.tag}, after
		set(t, tier, c.key, fresh)
		wantEntry(t, c.key, get(t, tier, c.key), fresh)
	}
}

// Contract (cache.Replacer only): a write's invalidation of a key, then
// its Replace; a fill that started before the write and reaches the tier
// after both does not remove or replace the write's entry (it is refused
// before it is stored). A later invalidation still removes the entry.
func (s suite) replaceOutlivesOvertakenFill(t *testing.T) {
	tier := s.newTier(t)
	rep, ok := tier.(cache.Replacer)
	if !ok {
		t.Skip("not a cache.Replacer")
	}
	ctx := context.Background()
	const key, tag = "GET http://api.example/books/2", "book:2"
	old := FullEntry(t, key, time.Now().Add(-100*time.Millisecond)) // read the old state
	old.Tags = []string{tag}
	// The write: its invalidation (the URL and its tag), then its entry.
	if _, err := rep.Invalidate(ctx, cache.Invalidation{Keys: []string{key}, Tags: []string{tag}}); err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	after := time.Now()
	written := FullEntry(t, key, after)
	written.Tags, written.Body = []string{tag}, []byte("the written state")
	if err := rep.Replace(ctx, key, written, after); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	set(t, tier, key, old)
	got := get(t, tier, key)
	if got == nil {
		t.Fatal("the tier holds nothing: the overtaken fill removed the write's entry")
	}
	wantEntry(t, key, got, written)

	if _, err := rep.Invalidate(ctx, cache.Invalidation{Tags: []string{tag}}); err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
	if e := get(t, tier, key); e != nil {
		t.Error("an invalidation after the write left its entry")
	}
}
