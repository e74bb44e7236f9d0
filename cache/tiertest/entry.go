package tiertest

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moatproxy/moat/cache"
)

// FullEntry returns an entry under key with every field set to a value other
// than its zero value, so that a tier that drops or mangles any field fails a
// round trip. Fields that Entry gains after this was written are filled by
// kind (an ID uint64 gets a random non-zero value); a field of a kind it
// cannot fill fails tb, so the suite is updated with the type.
func FullEntry(tb testing.TB, key string, now time.Time) *cache.Entry {
	tb.Helper()
	e := &cache.Entry{
		Key:    key,
		Route:  "/api/{id}",
		Status: 203,
		Header: http.Header{
			"Content-Type":    {"application/json; charset=utf-8"},
			"Cache-Control":   {"public, max-age=60, stale-while-revalidate=30"},
			"Set-Cookie":      {"a=1; Path=/", "b=2; Path=/"}, // two values, order kept
			"X-Binary":        {"\x00\x01\xff"},
			"X-Unicode":       {"héllo wörld ✓"},
			"x-not-canonical": {"stored as given"},
		},
		Body:                 []byte("{\"id\":1,\"bytes\":\"\x00\xff\xfe\"}\n"),
		RequestTime:          now.Add(-1500 * time.Millisecond),
		ResponseTime:         now.Add(-time.Second),
		InitialAge:           3*time.Second + 7*time.Nanosecond,
		Lifetime:             time.Minute,
		StaleWhileRevalidate: 30 * time.Second,
		StaleIfError:         time.Hour,
		FetchTime:            123 * time.Millisecond,
		NoCache:              true,
		MustRevalidate:       true,
		AuthShareable:        true,
		VaryMarker:           true,
		Vary:                 []string{"Accept-Encoding", "Accept-Language"},
		VaryEpoch:            1<<64 - 2,
		HitForMiss:           true,
		NotStoredReason:      "private",
		Coding:               "gzip",
		IdentitySize:         1 << 20,
		ETag:                 `W/"v1-\x00"`,
		LastModified:         "Mon, 02 Jan 2006 15:04:05 GMT",
		Tags:                 []string{"product:1", "url:abc", "tag with space"},
		KeepUntil:            now.Add(time.Hour),
	}
	v := reflect.ValueOf(e).Elem()
	for i := range v.NumField() {
		f, sf := v.Field(i), v.Type().Field(i)
		if !sf.IsExported() || !f.IsZero() {
			continue
		}
		if !fill(f, now) {
			tb.Fatalf("tiertest: FullEntry cannot fill Entry.%s of type %s: update FullEntry", sf.Name, sf.Type)
		}
	}
	return e
}

// fill sets f to a non-zero value of its kind; it reports false for kinds it
// does not know.
func fill(f reflect.Value, now time.Time) bool {
	switch {
	case f.Type() == reflect.TypeFor[time.Time]():
		f.Set(reflect.ValueOf(now.Add(17 * time.Minute)))
		return true
	case f.Type() == reflect.TypeFor[http.Header]():
		f.Set(reflect.ValueOf(http.Header{"X-Filled": {"1"}}))
		return true
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString("tiertest")
	case reflect.Bool:
		f.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		f.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		f.SetUint(max(rand.Uint64()>>(64-f.Type().Bits()), 1))
	case reflect.Slice:
		switch f.Type().Elem().Kind() {
		case reflect.Uint8:
			f.SetBytes([]byte("tiertest"))
		case reflect.String:
			f.Set(reflect.ValueOf([]string{"tiertest"}).Convert(f.Type()))
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// setID gives e a new random ID if Entry has an ID uint64 field (the
// identity that replaces pointer comparisons), so that a tier that drops it
// fails the comparison. It does nothing otherwise.
func setID(e *cache.Entry) {
	f := reflect.ValueOf(e).Elem().FieldByName("ID")
	if f.IsValid() && f.Kind() == reflect.Uint64 && f.CanSet() {
		f.SetUint(rand.Uint64() | 1)
	}
}

// DeepCopy returns a copy of e that shares no slice, map or pointer with it.
func DeepCopy(e *cache.Entry) *cache.Entry {
	if e == nil {
		return nil
	}
	return deepCopy(reflect.ValueOf(e)).Interface().(*cache.Entry)
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(deepCopy(v.Elem()))
		return n
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v) // unexported fields (time.Time's) are values: copied here
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				n.Field(i).Set(deepCopy(v.Field(i)))
			}
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Cap())
		switch v.Type().Elem().Kind() {
		case reflect.Uint8, reflect.String: // no references inside to copy
			reflect.Copy(n, v)
			return n
		}
		for i := range v.Len() {
			n.Index(i).Set(deepCopy(v.Index(i)))
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			n.SetMapIndex(it.Key(), deepCopy(it.Value()))
		}
		return n
	}
	return v
}

// Diff describes how got differs from want, one line per differing field
// (at most 20), or returns "" when they are equal. It compares content,
// never pointers: times with time.Time.Equal (an encoded time loses its
// monotonic reading and location), and a nil slice or map equals an empty
// one (an encoding need not tell them apart). Every exported field counts,
// Entry.ID included once the type has it.
func Diff(want, got *cache.Entry) string {
	switch {
	case want == nil && got == nil:
		return ""
	case want == nil:
		return fmt.Sprintf("want nil, got the entry of %q", got.Key)
	case got == nil:
		return fmt.Sprintf("want the entry of %q, got nil", want.Key)
	}
	var d differ
	d.diff("Entry", reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem())
	if d.more > 0 {
		d.lines = append(d.lines, fmt.Sprintf("... and %d more", d.more))
	}
	return strings.Join(d.lines, "\n")
}

type differ struct {
	lines []string
	more  int
}

func (d *differ) add(format string, args ...any) {
	if len(d.lines) >= 20 {
		d.more++
		return
	}
	d.lines = append(d.lines, fmt.Sprintf(format, args...))
}

func (d *differ) diff(path string, w, g reflect.Value) {
	if w.Type() == reflect.TypeFor[time.Time]() {
		wt, gt := w.Interface().(time.Time), g.Interface().(time.Time)
		if !wt.Equal(gt) {
			d.add("%s: -%s +%s", path, wt.Format(time.RFC3339Nano), gt.Format(time.RFC3339Nano))
		}
		return
	}
	switch w.Kind() {
	case reflect.Struct:
		for i := range w.NumField() {
			if sf := w.Type().Field(i); sf.IsExported() {
				d.diff(path+"."+sf.Name, w.Field(i), g.Field(i))
			}
		}
	case reflect.Pointer, reflect.Interface:
		switch {
		case w.IsNil() && g.IsNil():
		case w.IsNil() || g.IsNil():
			d.add("%s: -%v +%v", path, w, g)
		default:
			d.diff(path, w.Elem(), g.Elem())
		}
	case reflect.Slice:
		if w.Type().Elem().Kind() == reflect.Uint8 {
			d.bytes(path, w.Bytes(), g.Bytes())
			return
		}
		if w.Len() != g.Len() {
			d.add("%s: -%#v +%#v", path, w, g)
			return
		}
		for i := range w.Len() {
			d.diff(fmt.Sprintf("%s[%d]", path, i), w.Index(i), g.Index(i))
		}
	case reflect.Map:
		keys := map[string]reflect.Value{}
		for _, m := range []reflect.Value{w, g} {
			for it := m.MapRange(); it.Next(); {
				keys[fmt.Sprintf("%q", it.Key())] = it.Key()
			}
		}
		for _, name := range slices.Sorted(maps.Keys(keys)) {
			k := keys[name]
			wv, gv := w.MapIndex(k), g.MapIndex(k)
			switch {
			case !gv.IsValid():
				d.add("%s[%s]: missing, want %#v", path, name, wv)
			case !wv.IsValid():
				d.add("%s[%s]: unexpected %#v", path, name, gv)
			default:
				d.diff(path+"["+name+"]", wv, gv)
			}
		}
	default:
		if !w.Equal(g) {
			d.add("%s: -%#v +%#v", path, w, g)
		}
	}
}

// bytes reports a body difference by length and first differing byte, not
// by dumping a MiB.
func (d *differ) bytes(path string, w, g []byte) {
	if bytes.Equal(w, g) {
		return
	}
	i := 0
	for i < len(w) && i < len(g) && w[i] == g[i] {
		i++
	}
	if len(w) <= 64 && len(g) <= 64 {
		d.add("%s: -%q +%q", path, w, g)
		return
	}
	d.add("%s: len %d, want %d; first difference at byte %d", path, len(g), len(w), i)
}
