package aside

import (
	"encoding/json"

	"github.com/vmihailenco/msgpack/v5"
)

// A Codec encodes values for a shared tier. Unmarshal must accept what
// Marshal produced for the same Version of a Cache (see Options.Version),
// and must not keep data after it returns: the bytes are not the Codec's.
type Codec[V any] interface {
	Marshal(v V) ([]byte, error)
	Unmarshal(data []byte, v *V) error
}

// CodecFuncs adapts a pair of functions to a Codec.
type CodecFuncs[V any] struct {
	MarshalFunc   func(v V) ([]byte, error)
	UnmarshalFunc func(data []byte, v *V) error
}

var _ Codec[any] = CodecFuncs[any]{}

// Marshal implements Codec.
func (f CodecFuncs[V]) Marshal(v V) ([]byte, error) { return f.MarshalFunc(v) }

// Unmarshal implements Codec.
func (f CodecFuncs[V]) Unmarshal(data []byte, v *V) error { return f.UnmarshalFunc(data, v) }

// JSON returns the Codec of encoding/json: readable in L2, and tolerant of
// added fields, but the slowest and largest of the two.
func JSON[V any]() Codec[V] {
	return CodecFuncs[V]{
		MarshalFunc:   func(v V) ([]byte, error) { return json.Marshal(v) },
		UnmarshalFunc: func(data []byte, v *V) error { return json.Unmarshal(data, v) },
	}
}

// Msgpack returns a MessagePack Codec (github.com/vmihailenco/msgpack/v5):
// smaller and faster than JSON. Struct fields are keyed by name (or their
// `msgpack` tags), so fields may be added between Versions as with JSON.
func Msgpack[V any]() Codec[V] {
	return CodecFuncs[V]{
		MarshalFunc:   func(v V) ([]byte, error) { return msgpack.Marshal(v) },
		UnmarshalFunc: func(data []byte, v *V) error { return msgpack.Unmarshal(data, v) },
	}
}
