package cache

import (
	"bytes"
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeEntry feeds DecodeEntry encoded entries and their mutations.
// It must never panic; what it accepts must re-encode to an equal entry
// whose encoding is stable, must be shaped as Entry asks (len == cap
// slices) and must not alias its input.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range []*Entry{
		{},
		codecFullEntry(),
		codecTypicalEntry(),
		{Key: "k", VaryMarker: true, Vary: []string{"Accept"}, VaryEpoch: 3},
		{Key: "k", HitForMiss: true, NotStoredReason: "private", KeepUntil: codecNow},
		{Header: http.Header{"X-Nil": nil, "X-Empty": {}}, Body: []byte{}, Vary: []string{}, Tags: []string{""}},
		{RequestTime: time.Unix(0, -1<<63), KeepUntil: time.Unix(0, 1<<63-1)},
	} {
		b := AppendEntry(nil, e)
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{formatV1})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := bytes.Clone(data)
		e, err := DecodeEntry(in)
		if err != nil {
			if e != nil || !errors.Is(err, ErrBadEncoding) {
				t.Fatalf("got %v, %v; want nil and ErrBadEncoding", e, err)
			}
			return
		}
		checkDecodedShape(t, e)
		for i := range in {
			in[i] ^= 0xff
		}
		if again, _ := DecodeEntry(data); !reflect.DeepEqual(e, again) {
			t.Fatalf("the decoded entry changed with its input:\n%s", entryDiff(again, e))
		}
		b := AppendEntry(nil, e)
		e2, err := DecodeEntry(b)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v\n%x", err, b)
		}
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("re-encoding changed the entry:\n%s", entryDiff(e, e2))
		}
		if b2 := AppendEntry(nil, e2); !bytes.Equal(b, b2) {
			t.Fatalf("encoding is not stable:\n%x\n%x", b, b2)
		}
	})
}
