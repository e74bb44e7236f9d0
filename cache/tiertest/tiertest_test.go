package tiertest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
	"github.com/moatproxy/moat/cache/tiertest"
)

// mapTier is a reference tier that behaves like a remote one: it stores and
// returns copies. bug, if set, names one way in which it is broken, for
// TestSuiteCatches.
type mapTier struct {
	bug     string
	limit   int // body bytes; larger bodies are ErrTooLarge
	mu      sync.Mutex
	m       map[string]*cache.Entry
	broken  bool          // "poisoned_by_cancel": a canceled call broke it
	release chan struct{} // "hangs_when_canceled" calls wait for it
}

func newMapTier(t *testing.T, bug string) *mapTier {
	mt := &mapTier{bug: bug, limit: 4 << 20, m: map[string]*cache.Entry{}, release: make(chan struct{})}
	t.Cleanup(func() { close(mt.release) })
	return mt
}

var errMap = errors.New("maptier: error")

func (mt *mapTier) key(k string) string {
	if mt.bug == "truncated_keys" && len(k) > 2 {
		return k[:2]
	}
	return k
}

// enter handles a call's context; it reports an error to return.
func (mt *mapTier) enter(ctx context.Context) error {
	if ctx.Err() != nil {
		switch mt.bug {
		case "hangs_when_canceled":
			<-mt.release
		case "poisoned_by_cancel":
			mt.mu.Lock()
			mt.broken = true
			mt.mu.Unlock()
		}
		return ctx.Err()
	}
	mt.mu.Lock()
	defer mt.mu.Unlock()
	if mt.broken {
		return errMap
	}
	return nil
}

func (mt *mapTier) Get(ctx context.Context, key string) (*cache.Entry, error) {
	if err := mt.enter(ctx); err != nil {
		return nil, err
	}
	mt.mu.Lock()
	e := mt.m[mt.key(key)]
	mt.mu.Unlock()
	if e == nil || (mt.bug != "no_expiry" && time.Now().After(e.KeepUntil)) {
		if mt.bug == "err_on_miss" {
			return nil, errMap
		}
		return nil, nil
	}
	c := tiertest.DeepCopy(e)
	switch mt.bug {
	case "drops_tags":
		c.Tags = nil
	case "drops_id":
		reflect.ValueOf(c).Elem().FieldByName("ID").SetUint(0)
	case "ms_times":
		c.RequestTime = c.RequestTime.Truncate(time.Millisecond)
	}
	return c, nil
}

func (mt *mapTier) Set(ctx context.Context, key string, e *cache.Entry) error {
	if err := mt.enter(ctx); err != nil {
		return err
	}
	if len(e.Body) > mt.limit && mt.bug != "not_too_large" {
		return fmt.Errorf("maptier: %w", cache.ErrTooLarge)
	}
	if mt.bug == "mutates_given" {
		for k, v := range e.Header {
			delete(e.Header, k)
			e.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	c := tiertest.DeepCopy(e)
	mt.mu.Lock()
	mt.m[mt.key(key)] = c
	mt.mu.Unlock()
	return nil
}

func (mt *mapTier) Delete(ctx context.Context, key string) error {
	if err := mt.enter(ctx); err != nil {
		return err
	}
	mt.mu.Lock()
	defer mt.mu.Unlock()
	key = mt.key(key)
	if _, ok := mt.m[key]; !ok && mt.bug == "delete_missing_errs" {
		return errMap
	}
	for k := range mt.m {
		if k == key || (mt.bug == "prefix_delete" && strings.HasPrefix(k, key)) {
			delete(mt.m, k)
		}
	}
	return nil
}

var mapOptions = tiertest.Options{
	TooLargeBody: 4<<20 + 1,
	ExpiryWithin: 300 * time.Millisecond,
	Prompt:       200 * time.Millisecond,
}

// A correct tier that returns copies passes: the suite asks nothing of
// pointers unless told to.
func TestReferenceTier(t *testing.T) {
	tiertest.RunWith(t, func(t *testing.T) cache.Tier { return newMapTier(t, "") }, mapOptions)
}

// TestBrokenTier runs the suite against the broken tier that
// TIERTEST_BROKEN names; TestSuiteCatches runs it in a child process and
// expects it to fail.
func TestBrokenTier(t *testing.T) {
	bug := os.Getenv("TIERTEST_BROKEN")
	if bug == "" {
		t.Skip("run by TestSuiteCatches")
	}
	tiertest.RunWith(t, func(t *testing.T) cache.Tier { return newMapTier(t, bug) }, mapOptions)
}

// Each broken tier fails at least the cases that name its bug.
func TestSuiteCatches(t *testing.T) {
	if os.Getenv("TIERTEST_BROKEN") != "" {
		t.Skip("in the child process")
	}
	failLine := regexp.MustCompile(`--- FAIL: TestBrokenTier/(\S+)`)
	for bug, wantFailed := range map[string][]string{
		"err_on_miss":         {"miss_is_nil_nil"},
		"truncated_keys":      {"keys_are_distinct", "concurrent_use"},
		"prefix_delete":       {"keys_are_distinct"},
		"drops_tags":          {"round_trip/full", "large_entry"},
		"ms_times":            {"round_trip/full"},
		"mutates_given":       {"round_trip/full"},
		"delete_missing_errs": {"delete_missing_is_not_an_error"},
		"no_expiry":           {"keep_until_expires"},
		"hangs_when_canceled": {"canceled_context/canceled", "canceled_context/deadline_exceeded"},
		"poisoned_by_cancel":  {"canceled_context/canceled"},
		"not_too_large":       {"too_large"},
		"drops_id":            {"round_trip/full", "set_replaces"},
	} {
		t.Run(bug, func(t *testing.T) {
			if _, hasID := reflect.TypeFor[cache.Entry]().FieldByName("ID"); bug == "drops_id" && !hasID {
				t.Skip("Entry has no ID field")
			}
			// Only the cases expected to fail run, to keep this fast.
			var top []string
			for _, c := range wantFailed {
				top = append(top, regexp.QuoteMeta(strings.Split(c, "/")[0]))
			}
			run := "^TestBrokenTier$/^(" + strings.Join(top, "|") + ")$"
			cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), "TIERTEST_BROKEN="+bug)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child: err = %v, want a failing exit\n%s", err, out)
			}
			failed := map[string]bool{}
			for _, m := range failLine.FindAllSubmatch(out, -1) {
				failed[string(m[1])] = true
			}
			for _, c := range wantFailed {
				if !failed[c] {
					t.Errorf("case %s passed, want it to fail; failed: %v\n%s", c, failed, out)
				}
			}
		})
	}
}

func TestDiff(t *testing.T) {
	now := time.Now()
	full := tiertest.FullEntry(t, "k", now)
	if d := tiertest.Diff(full, tiertest.DeepCopy(full)); d != "" {
		t.Errorf("Diff of a deep copy = %q, want none", d)
	}
	// What an encoding may change without changing the content.
	decoded := tiertest.DeepCopy(full)
	decoded.KeepUntil = decoded.KeepUntil.UTC()
	decoded.RequestTime = time.Unix(0, decoded.RequestTime.UnixNano())
	if d := tiertest.Diff(full, decoded); d != "" {
		t.Errorf("Diff of the same instants in another form = %q, want none", d)
	}
	empty := &cache.Entry{Key: "k", Header: http.Header{}, Body: []byte{}, Vary: []string{}}
	if d := tiertest.Diff(&cache.Entry{Key: "k"}, empty); d != "" {
		t.Errorf("Diff of nil and empty slices and maps = %q, want none", d)
	}
	if d := tiertest.Diff(full, nil); d == "" {
		t.Error("Diff of an entry and nil = none")
	}
	// Every field counts: zeroing any one of FullEntry's is a difference
	// that names it.
	v := reflect.ValueOf(full).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		c := tiertest.DeepCopy(full)
		f := reflect.ValueOf(c).Elem().Field(i)
		f.Set(reflect.Zero(f.Type()))
		if d := tiertest.Diff(full, c); !strings.Contains(d, "Entry."+name) {
			t.Errorf("Diff with Entry.%s zeroed = %q, want it named", name, d)
		}
	}
	// A header value out of order, and a long body, are reported briefly.
	c := tiertest.DeepCopy(full)
	c.Header["Set-Cookie"] = []string{"b=2; Path=/", "a=1; Path=/"}
	c.Body = make([]byte, 1<<20)
	want := tiertest.DeepCopy(full)
	want.Body = make([]byte, 1<<20)
	want.Body[1000] = 1
	d := tiertest.Diff(want, c)
	if !strings.Contains(d, `Entry.Header["Set-Cookie"][0]`) || !strings.Contains(d, "first difference at byte 1000") || len(d) > 1000 {
		t.Errorf("Diff = %q, want the cookie order and the first body byte that differs, briefly", d)
	}
}

func TestFullEntryFillsEveryField(t *testing.T) {
	v := reflect.ValueOf(tiertest.FullEntry(t, "k", time.Now())).Elem()
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("FullEntry leaves Entry.%s zero", v.Type().Field(i).Name)
		}
	}
}

func TestDeepCopySharesNothing(t *testing.T) {
	e := tiertest.FullEntry(t, "k", time.Now())
	c := tiertest.DeepCopy(e)
	c.Header["Content-Type"][0] = "changed"
	c.Header["X-New"] = []string{"1"}
	c.Body[0] = '!'
	c.Vary[0] = "changed"
	c.Tags[0] = "changed"
	if e.Header.Get("Content-Type") == "changed" || e.Header.Get("X-New") != "" || e.Body[0] == '!' ||
		e.Vary[0] == "changed" || e.Tags[0] == "changed" {
		t.Errorf("changing the copy changed the original: %+v", e)
	}
}
