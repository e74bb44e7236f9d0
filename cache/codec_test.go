package cache

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// codecNow is a fixed instant with nanoseconds, which encodings must keep.
var codecNow = time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.UTC)

// codecFullEntry has every field set, header values of several kinds (two
// values in order, an empty list, binary bytes, a name net/http would not
// canonicalize) and strings long enough for two-byte lengths.
func codecFullEntry() *Entry {
	return &Entry{
		ID:     0xfedcba9876543210,
		Key:    "GET http://api.example.com/api/products/42?lang=en&page=2",
		Route:  "GET /api/products/{id}",
		Status: 203,
		Header: http.Header{
			"Content-Type":    {"application/json; charset=utf-8"},
			"Set-Cookie":      {"a=1; Path=/", "b=2; Path=/"},
			"X-Empty":         {},
			"X-Binary":        {"\x00\x01\xff"},
			"x-not-canonical": {"kept as given", "héllo ✓"},
			"X-Long":          {strings.Repeat("v", 300)},
		},
		Body:                 []byte("{\"id\":42,\"raw\":\"\x00\xff\"}\n"),
		RequestTime:          codecNow.Add(-1500 * time.Millisecond),
		ResponseTime:         codecNow.Add(-time.Second),
		InitialAge:           3*time.Second + 7,
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
		Tags:                 []string{"product:42", "url:abc", "tag with space"},
		KeepUntil:            codecNow.Add(time.Hour),
	}
}

// codecTypicalEntry is the entry the benchmarks measure: a 1 KiB body, 8 header
// fields and 2 tags, built the way the gateway builds one.
func codecTypicalEntry() *Entry {
	e := shapedEntry(1, entryShape{body: 1024, fields: 8, tags: 2}, codecNow)
	e.ID = NewEntryID()
	e.RequestTime = codecNow.Add(-20 * time.Millisecond)
	e.FetchTime = 20 * time.Millisecond
	e.StaleWhileRevalidate = time.Minute
	return e
}

// entryDiff describes how got differs from want, field by field, or
// returns "". Times are compared with Equal (an encoded time keeps its
// instant, not its location or monotonic reading); everything else must be
// deeply equal, nil and empty slices and maps told apart.
func entryDiff(want, got *Entry) string {
	var diffs []string
	w, g := reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem()
	for i := range w.NumField() {
		wf, gf := w.Field(i), g.Field(i)
		name := w.Type().Field(i).Name
		if wt, ok := wf.Interface().(time.Time); ok {
			if gt := gf.Interface().(time.Time); !wt.Equal(gt) || wt.IsZero() != gt.IsZero() {
				diffs = append(diffs, fmt.Sprintf("%s: got %v, want %v", name, gt, wt))
			}
			continue
		}
		if !reflect.DeepEqual(wf.Interface(), gf.Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s: got %#v, want %#v", name, gf.Interface(), wf.Interface()))
		}
	}
	return strings.Join(diffs, "\n")
}

// checkDecodedShape checks what Entry's doc and Size ask of a decoded
// entry: value slices with len == cap, and a body of exactly its size.
func checkDecodedShape(t testing.TB, e *Entry) {
	t.Helper()
	for k, vs := range e.Header {
		if len(vs) != cap(vs) {
			t.Errorf("Header[%q]: len %d, cap %d; want len == cap", k, len(vs), cap(vs))
		}
	}
	for name, ss := range map[string][]string{"Vary": e.Vary, "Tags": e.Tags} {
		if len(ss) != cap(ss) {
			t.Errorf("%s: len %d, cap %d; want len == cap", name, len(ss), cap(ss))
		}
	}
	if len(e.Body) != cap(e.Body) {
		t.Errorf("Body: len %d, cap %d; want an exact-size copy", len(e.Body), cap(e.Body))
	}
}

func TestEntryRoundTrip(t *testing.T) {
	manyFields := http.Header{}
	for i := range 40 {
		manyFields[fmt.Sprintf("X-Field-%02d", i)] = []string{fmt.Sprint(i)}
	}
	tests := []struct {
		name string
		e    *Entry
	}{
		{"zero", &Entry{}},
		{"full", codecFullEntry()},
		{"typical", codecTypicalEntry()},
		{"vary_marker", &Entry{ID: NewEntryID(), Key: "GET http://a/x", Route: "GET /x", VaryMarker: true,
			Vary: []string{"Accept-Language"}, VaryEpoch: 7, KeepUntil: codecNow.Add(time.Minute)}},
		{"hit_for_miss", &Entry{ID: NewEntryID(), Key: "GET http://a/y", HitForMiss: true, NotStoredReason: "no-store",
			ResponseTime: codecNow, KeepUntil: codecNow.Add(10 * time.Second)}},
		{"empty_not_nil", &Entry{Header: http.Header{"X-Nil": nil, "X-Empty": {}, "X-Blank": {""}},
			Body: []byte{}, Vary: []string{}, Tags: []string{""}}},
		{"empty_header", &Entry{Header: http.Header{}, Body: nil}},
		{"validators_from_header", &Entry{ETag: `"a"`, LastModified: "Mon, 02 Jan 2006 15:04:05 GMT",
			Header: http.Header{"Etag": {`"a"`, `"b"`}, "Last-Modified": {"Mon, 02 Jan 2006 15:04:05 GMT"}}}},
		{"validators_not_from_header", &Entry{ETag: `"b"`, LastModified: "",
			Header: http.Header{"Etag": {`"a"`}, "Last-Modified": {"Mon, 02 Jan 2006 15:04:05 GMT"}, "ETag": {`"b"`}}}},
		{"many_fields", &Entry{Status: 200, Header: manyFields}},
		{"large_body", &Entry{Status: 200, Body: bytes.Repeat([]byte("0123456789abcdef"), 1<<12)}},
		{"extremes", &Entry{
			ID: math.MaxUint64, Status: math.MinInt, IdentitySize: math.MaxInt, VaryEpoch: math.MaxUint64,
			InitialAge: math.MinInt64, Lifetime: math.MaxInt64, StaleWhileRevalidate: -1, StaleIfError: 1, FetchTime: -time.Hour,
			RequestTime: time.Unix(0, math.MinInt64), ResponseTime: time.Unix(0, 0), KeepUntil: time.Unix(0, math.MaxInt64),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendEntry(nil, tt.e)
			if size := encodedSizes(tt.e, entryFlags(tt.e), sortedFields(nil, tt.e.Header)).size; len(b) != size {
				t.Errorf("encoding of %d bytes, counted %d: AppendEntry grows its buffer twice", len(b), size)
			}
			if again := AppendEntry(nil, tt.e); !bytes.Equal(again, b) {
				t.Errorf("two encodings of one entry differ:\n%x\n%x", b, again)
			}
			if prefixed := AppendEntry([]byte("prefix"), tt.e); string(prefixed[:6]) != "prefix" || !bytes.Equal(prefixed[6:], b) {
				t.Errorf("AppendEntry does not append to dst")
			}
			got, err := DecodeEntry(b)
			if err != nil {
				t.Fatalf("DecodeEntry: %v", err)
			}
			if d := entryDiff(tt.e, got); d != "" {
				t.Errorf("round trip changed the entry:\n%s", d)
			}
			checkDecodedShape(t, got)
			// Nothing of the entry may alias the input.
			want := entryDiff(tt.e, got)
			for i := range b {
				b[i] ^= 0xff
			}
			if d := entryDiff(tt.e, got); d != want {
				t.Errorf("the decoded entry changed with its input:\n%s", d)
			}
		})
	}
}

// fillEntryField sets field i of e to a non-zero value of its type, distinct
// from the other fields', or reports false for a type it does not know.
func fillEntryField(e *Entry, i int) bool {
	f := reflect.ValueOf(e).Elem().Field(i)
	switch f.Interface().(type) {
	case time.Time:
		f.Set(reflect.ValueOf(codecNow.Add(time.Duration(i) * time.Second)))
	case http.Header:
		f.Set(reflect.ValueOf(http.Header{fmt.Sprintf("X-Field-%d", i): {"a", "b"}}))
	case []byte:
		f.SetBytes([]byte(fmt.Sprintf("body %d", i)))
	case []string:
		f.Set(reflect.ValueOf([]string{fmt.Sprintf("s%d", i), "t"}))
	default:
		switch f.Kind() {
		case reflect.String:
			f.SetString(fmt.Sprintf("field %d", i))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i+1) * 1001)
		case reflect.Uint64:
			f.SetUint(1<<63 + uint64(i))
		default:
			return false
		}
	}
	return true
}

// TestCodecCoversEveryField fills every exported field of Entry by
// reflection, all at once and each alone, so that a field added to Entry
// and forgotten by the codec (or two fields sharing a flag) fails here.
func TestCodecCoversEveryField(t *testing.T) {
	typ := reflect.TypeFor[Entry]()
	all := &Entry{}
	for i := range typ.NumField() {
		sf := typ.Field(i)
		if !sf.IsExported() {
			t.Fatalf("Entry.%s is unexported: the codec cannot see it; teach this test and the codec", sf.Name)
		}
		if !fillEntryField(all, i) {
			t.Fatalf("no value for Entry.%s of type %s: teach fillEntryField, and the codec, about it", sf.Name, sf.Type)
		}
		one := &Entry{}
		fillEntryField(one, i)
		got, err := DecodeEntry(AppendEntry(nil, one))
		if err != nil {
			t.Fatalf("%s alone: %v", sf.Name, err)
		}
		if d := entryDiff(one, got); d != "" {
			t.Errorf("%s alone does not round-trip:\n%s", sf.Name, d)
		}
	}
	got, err := DecodeEntry(AppendEntry(nil, all))
	if err != nil {
		t.Fatal(err)
	}
	if d := entryDiff(all, got); d != "" {
		t.Errorf("round trip changed the entry:\n%s", d)
	}
	v := reflect.ValueOf(got).Elem()
	for i := range typ.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("Entry.%s is zero after the round trip", typ.Field(i).Name)
		}
	}
}

func TestDecodeTruncated(t *testing.T) {
	for name, e := range map[string]*Entry{"zero": {}, "full": codecFullEntry(), "typical": codecTypicalEntry()} {
		b := AppendEntry(nil, e)
		for n := range len(b) {
			// A clipped slice: a read past the end panics instead of
			// finding the rest of the encoding in the spare capacity.
			if got, err := DecodeEntry(b[:n:n]); !errors.Is(err, ErrBadEncoding) || got != nil {
				t.Fatalf("%s cut to %d of %d bytes: got %v, %v; want nil and ErrBadEncoding", name, n, len(b), got, err)
			}
		}
	}
}

func TestDecodeUnknownVersion(t *testing.T) {
	b := AppendEntry(nil, codecFullEntry())
	for _, v := range []byte{0, 2, 255} {
		b[0] = v
		_, err := DecodeEntry(b)
		if !errors.Is(err, ErrBadEncoding) || !strings.Contains(err.Error(), "version") {
			t.Errorf("version %d: got %v, want ErrBadEncoding naming the version", v, err)
		}
	}
}

// rawEntry builds an encoding by hand: the entrySizes and flags given, zero
// numbers and no times, then the strings and lists in tail.
func rawEntry(c entrySizes, flags uint64, tail ...[]byte) []byte {
	b := []byte{formatV1}
	b = binary.AppendUvarint(b, uint64(c.shared))
	b = binary.AppendUvarint(b, uint64(c.tagBytes))
	b = binary.AppendUvarint(b, uint64(c.elems))
	b = append(b, 1, 2, 3, 4, 5, 6, 7, 8) // ID
	b = binary.AppendUvarint(b, flags)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // Status, five durations, IdentitySize, VaryEpoch
	for _, p := range tail {
		b = append(b, p...)
	}
	return b
}

func rawString(s string) []byte { return appendString(nil, s) }

func rawUvarint(x uint64) []byte { return binary.AppendUvarint(nil, x) }

// rawNoStrings are the six empty strings from Key to LastModified.
var rawNoStrings = bytes.Repeat([]byte{0}, 6)

func TestDecodeMalformed(t *testing.T) {
	nilLists := []byte{0, 0, 0, 0} // Header, Vary, Tags, Body
	if _, err := DecodeEntry(rawEntry(entrySizes{}, 0, rawNoStrings, nilLists)); err != nil {
		t.Fatalf("the well-formed base of these cases: %v", err)
	}
	header := func(fields ...string) []byte { // name, value, name, value...
		b := rawUvarint(uint64(len(fields)/2) + 1)
		for i := 0; i < len(fields); i += 2 {
			b = append(b, rawString(fields[i])...)
			b = append(b, 2) // one value
			b = append(b, rawString(fields[i+1])...)
		}
		return b
	}
	const huge = 1 << 40
	tests := []struct {
		name, wantErr string
		b             []byte
	}{
		{"empty", "truncated", nil},
		{"trailing_byte", "trailing bytes", rawEntry(entrySizes{}, 0, rawNoStrings, nilLists, []byte{0})},
		{"unknown_flag", "unknown flags", rawEntry(entrySizes{}, 1<<10, rawNoStrings, nilLists)},
		{"overlong_varint", "overlong varint", rawEntry(entrySizes{}, 0, bytes.Repeat([]byte{0x80}, 11), []byte{1})},
		{"huge_shared_count", "shared string bytes: length exceeds", rawEntry(entrySizes{shared: huge}, 0, rawNoStrings, nilLists)},
		{"huge_tag_count", "tag bytes: length exceeds", rawEntry(entrySizes{tagBytes: huge}, 0, rawNoStrings, nilLists)},
		{"huge_elems_count", "list elements: length exceeds", rawEntry(entrySizes{elems: huge}, 0, rawNoStrings, nilLists)},
		{"huge_key", "string: length exceeds", rawEntry(entrySizes{}, 0, rawUvarint(huge), []byte("k"))},
		{"huge_header_count", "header fields: length exceeds", rawEntry(entrySizes{}, 0, rawNoStrings, rawUvarint(huge), []byte{0, 0, 0})},
		{"huge_value_count", "header values: length exceeds", rawEntry(entrySizes{shared: 1}, 0, rawNoStrings, []byte{2, 1, 'X'}, rawUvarint(huge), []byte{0, 0, 0})},
		{"huge_body", "body: length exceeds", rawEntry(entrySizes{}, 0, rawNoStrings, []byte{0, 0, 0}, rawUvarint(huge), []byte("body"))},
		{"body_longer_than_input", "body: length exceeds", rawEntry(entrySizes{}, 0, rawNoStrings, []byte{0, 0, 0, 6}, []byte("body"))},
		{"shared_count_too_small", "exceed their count", rawEntry(entrySizes{shared: 1}, 0, rawNoStrings[:2], rawString("reason"), rawNoStrings[:3], nilLists)},
		{"shared_count_too_large", "disagree with their count", rawEntry(entrySizes{shared: 7}, 0, rawNoStrings[:2], rawString("reason"), rawNoStrings[:3], nilLists)},
		{"tag_count_too_small", "exceed their count", rawEntry(entrySizes{elems: 1}, 0, rawNoStrings, []byte{0, 0, 2}, rawString("t"), []byte{0})},
		{"tag_count_too_large", "disagree with their count", rawEntry(entrySizes{tagBytes: 2, elems: 1}, 0, rawNoStrings, []byte{0, 0, 2}, rawString("t"), []byte{0})},
		{"elems_count_too_small", "more list elements than counted", rawEntry(entrySizes{shared: 2}, 0, rawNoStrings, header("A", "1"), []byte{0, 0, 0})},
		{"elems_count_too_large", "list elements disagree", rawEntry(entrySizes{shared: 2, elems: 2}, 0, rawNoStrings, header("A", "1"), []byte{0, 0, 0})},
		{"duplicate_header", "duplicate header fields", rawEntry(entrySizes{shared: 4, elems: 2}, 0, rawNoStrings, header("A", "1", "A", "2"), []byte{0, 0, 0})},
		{"etag_flag_without_value", "no Etag field", rawEntry(entrySizes{shared: 4, elems: 1}, flagETagInHeader, rawNoStrings[:5], header("Etag", ""), []byte{0, 0, 0})},
		{"last_modified_flag_without_field", "no Last-Modified field", rawEntry(entrySizes{}, flagLastModifiedInHeader, rawNoStrings[:5], nilLists)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeEntry(tt.b)
			if !errors.Is(err, ErrBadEncoding) || got != nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, %v; want nil and ErrBadEncoding: ...%s...", got, err, tt.wantErr)
			}
		})
	}
}

// TestDecodeAllocationBounded feeds DecodeEntry inputs whose counts claim
// as much as their length allows, and checks that what it allocates before
// it finds them malformed stays within the bound its doc gives.
func TestDecodeAllocationBounded(t *testing.T) {
	const n = 64 << 10
	zeros := make([]byte, n)
	tests := []struct {
		name string
		b    []byte
	}{
		{"shared_bytes", rawEntry(entrySizes{shared: n}, 0, zeros)},
		{"tag_bytes", rawEntry(entrySizes{tagBytes: n}, 0, zeros)},
		{"elements", rawEntry(entrySizes{elems: n}, 0, zeros)},
		{"header_fields", rawEntry(entrySizes{}, 0, rawNoStrings, rawUvarint(n+1), zeros)},
		{"body", rawEntry(entrySizes{}, 0, rawNoStrings, []byte{0, 0, 0}, rawUvarint(n+1), zeros[:n-1])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, err := DecodeEntry(tt.b); !errors.Is(err, ErrBadEncoding) {
				t.Fatalf("got %v, want ErrBadEncoding", err)
			}
			runtime.ReadMemStats(&after)
			got := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes allocated for %d bytes of input (%.1f times)", got, len(tt.b), float64(got)/float64(len(tt.b)))
			if limit := 17*len(tt.b) + 24<<10; got > uint64(limit) {
				t.Errorf("%d bytes allocated for %d bytes of input, want at most %d", got, len(tt.b), limit)
			}
		})
	}
}

func TestUnixNanoClamped(t *testing.T) {
	tests := []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, math.MaxInt64), math.MaxInt64},
		{time.Unix(0, math.MaxInt64).Add(1), math.MaxInt64},
		{time.Unix(0, math.MaxInt64).Add(-1), math.MaxInt64 - 1},
		{time.Unix(0, math.MinInt64), math.MinInt64},
		{time.Unix(0, math.MinInt64).Add(-1), math.MinInt64},
		{time.Unix(0, math.MinInt64).Add(1), math.MinInt64 + 1},
		{time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), math.MinInt64},
		{time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{codecNow, codecNow.UnixNano()},
	}
	for _, tt := range tests {
		if got := unixNano(tt.t); got != tt.want {
			t.Errorf("unixNano(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestNewEntryID(t *testing.T) {
	seen := make(map[uint64]bool)
	for range 1000 {
		id := NewEntryID()
		if id == 0 || seen[id] {
			t.Fatalf("NewEntryID() = %d: zero or repeated", id)
		}
		seen[id] = true
	}
	e := &Entry{ID: NewEntryID()}
	if c := e.Clone(); c.ID != e.ID {
		t.Errorf("Clone: ID %d, want %d", c.ID, e.ID)
	}
}

// TestFormatV1IsStable pins the bytes of version 1: an encoding change that
// keeps the version byte would make nodes of two releases misread each
// other's entries. Change the format only with a new version, and this
// test with it.
func TestFormatV1IsStable(t *testing.T) {
	e := &Entry{
		ID: 0x0102030405060708, Key: "GET http://a/b", Route: "GET /b", Status: 200,
		Header:   http.Header{"Content-Type": {"text/plain"}, "Etag": {`"x"`}},
		Body:     []byte("hi"),
		Lifetime: time.Minute, ResponseTime: time.Unix(1767366245, 5), KeepUntil: time.Unix(1767366305, 5),
		ETag: `"x"`, Tags: []string{"b"}, MustRevalidate: true,
	}
	const want = "01" + "1d" + "01" + "03" + // version, shared, tag bytes, elements
		"0807060504030201" + "c203" + "9003" + // ID, flags, Status
		"8ac8edd38c8ff98631" + "8aa8a8d8cb92f98631" + // ResponseTime, KeepUntil
		"00" + "80e0ba84bf03" + "000000" + "00" + "00" + // durations, IdentitySize, VaryEpoch
		"0e" + "47455420687474703a2f2f612f62" + "06" + "474554202f62" + // Key, Route
		"00" + "00" + "00" + // NotStoredReason, Coding, LastModified (ETag from the header)
		"03" + "0c" + "436f6e74656e742d54797065" + "02" + "0a" + "746578742f706c61696e" + // Header
		"04" + "45746167" + "02" + "03" + "227822" +
		"00" + "02" + "01" + "62" + "03" + "6869" // Vary, Tags, Body
	if got := hex.EncodeToString(AppendEntry(nil, e)); got != want {
		t.Errorf("version 1 encoding changed:\ngot  %s\nwant %s", got, want)
	}
}

// TestDecodedSizeIsHonest checks that a decoded entry costs no more heap
// than Entry.Size says, less what Size adds for the tier and the tag index
// around it (the entryDecoder allocates neither), within the 5% that
// TestSizeIsHonest allows: the one allocation of the shared strings rounds
// up once to a coarser size class where Size rounds each value, which it
// usually saves and sometimes loses (a 300-byte value in "full").
func TestDecodedSizeIsHonest(t *testing.T) {
	shapes := []struct {
		name string
		e    *Entry
	}{
		{"typical", codecTypicalEntry()},
		{"body_16_3_fields", shapedEntry(2, entryShape{body: 16, fields: 3}, codecNow)},
		{"no_body_no_fields", shapedEntry(3, entryShape{}, codecNow)},
		{"body_16k_10_fields", shapedEntry(4, entryShape{body: 16 << 10, fields: 10}, codecNow)},
		{"body_1k_64_unique_tags", shapedEntry(5, entryShape{body: 1024, fields: 8, tags: 64, uniqueTags: true}, codecNow)},
		{"full", codecFullEntry()},
		{"hit_for_miss", &Entry{Key: "GET http://api.example.com/x", HitForMiss: true, NotStoredReason: "no-store", KeepUntil: codecNow}},
	}
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			b := AppendEntry(nil, s.e)
			// TotalAlloc counts every goroutine's allocations (the
			// runtime's, other tests'), which only ever add: the least of
			// a few rounds is the decoder's own.
			const n, rounds = 100, 5
			keep := make([]*Entry, n)
			heap := math.Inf(1)
			for range rounds {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				for i := range keep {
					keep[i], _ = DecodeEntry(b)
				}
				runtime.ReadMemStats(&after)
				heap = min(heap, float64(after.TotalAlloc-before.TotalAlloc)/n)
			}
			accounted := keep[0].Size() - (entryOverhead - 352) - tagPairBytes*len(keep[0].Tags)
			ratio := heap / float64(accounted)
			t.Logf("decoded entry: heap %.0f B, accounted %d B (Size %d), heap/accounted %.3f", heap, accounted, keep[0].Size(), ratio)
			if ratio > 1.05 {
				t.Errorf("a decoded entry takes %.0f bytes of heap; Size accounts %d for it", heap, accounted)
			}
			runtime.KeepAlive(keep)
		})
	}
}

func TestDecodeAllocs(t *testing.T) {
	b := AppendEntry(nil, codecTypicalEntry())
	// The Entry, the header map (two), one []string, the shared strings,
	// the tags, the key and the body.
	const want = 8
	if got := testing.AllocsPerRun(100, func() {
		if _, err := DecodeEntry(b); err != nil {
			t.Fatal(err)
		}
	}); got > want {
		t.Errorf("DecodeEntry of the typical entry: %.0f allocations, want at most %d", got, want)
	}
	e := codecTypicalEntry()
	dst := make([]byte, 0, 4096)
	if got := testing.AllocsPerRun(100, func() { dst = AppendEntry(dst[:0], e) }); got != 0 {
		t.Errorf("AppendEntry into a large enough buffer: %.0f allocations, want 0", got)
	}
}

func ExampleDecodeEntry() {
	e := &Entry{
		ID:     NewEntryID(),
		Key:    "GET http://api.example.com/books/1",
		Status: http.StatusOK,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"id":1}`),
		Tags:   []string{"book:1"},
	}
	b := AppendEntry(nil, e) // what a shared tier stores under the key
	got, err := DecodeEntry(b)
	if err != nil {
		panic(err) // a shared tier would count it and answer a miss
	}
	fmt.Println(got.ID == e.ID, got.Status, got.Header.Get("Content-Type"), string(got.Body), got.Tags)

	_, err = DecodeEntry(b[:len(b)-1])
	fmt.Println(errors.Is(err, ErrBadEncoding))
	// Output:
	// true 200 application/json {"id":1} [book:1]
	// true
}

func BenchmarkAppendEntry(b *testing.B) {
	e := codecTypicalEntry()
	dst := AppendEntry(nil, e)
	b.ReportAllocs()
	for b.Loop() {
		dst = AppendEntry(dst[:0], e)
	}
	b.ReportMetric(float64(len(dst)), "encoded-B")
}

func BenchmarkAppendEntryNewBuffer(b *testing.B) {
	e := codecTypicalEntry()
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendEntry(nil, e)
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	enc := AppendEntry(nil, codecTypicalEntry())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEntry(enc); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(enc)), "encoded-B")
}
