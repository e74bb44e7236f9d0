package config

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ByteSize is a number of bytes that reads from a number with an optional unit: "1024" (bytes),
// "512KiB", "256MiB", "1GiB", "1.5GiB", "100MB", "64KB". Units are case-insensitive: B; KB, MB,
// GB, TB (SI, powers of 1000); KiB, MiB, GiB, TiB (powers of 1024). Negative sizes, fractions
// of a byte and sizes past math.MaxInt64 are errors. It writes itself back in the largest unit
// that divides it exactly, preferring binary units: "256MiB", "100MB", "1000B" is "1KB".
type ByteSize int64

// Binary and SI size units.
const (
	B   ByteSize = 1
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
	KB  ByteSize = 1e3
	MB  ByteSize = 1e6
	GB  ByteSize = 1e9
	TB  ByteSize = 1e12
)

var sizeUnits = []struct {
	name string
	size ByteSize
}{
	// String tries these in order, so binary units come first and largest first.
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB},
	{"TB", TB}, {"GB", GB}, {"MB", MB}, {"KB", KB},
	{"B", B},
}

const sizeHint = "(use e.g. 512KiB, 256MiB, 1GiB)"

// String formats b in the largest unit that divides it exactly: "256MiB", "100MB", "0B".
func (b ByteSize) String() string {
	if b > 0 {
		for _, u := range sizeUnits {
			if b%u.size == 0 {
				return strconv.FormatInt(int64(b/u.size), 10) + u.name
			}
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// ParseByteSize parses a ByteSize as described on the type.
func ParseByteSize(s string) (ByteSize, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size " + sizeHint)
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("size %q must not be negative", s)
	}
	t = strings.TrimPrefix(t, "+")
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	whole, frac, hasDot := strings.Cut(num, ".")
	if !allDigits(whole) || (hasDot && !allDigits(frac)) {
		return 0, fmt.Errorf("invalid size %q %s", s, sizeHint)
	}
	mult := ByteSize(0)
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			mult = u.size
		}
	}
	if unit == "" {
		mult = B
	}
	if mult == 0 {
		return 0, fmt.Errorf("unknown size unit %q in %q (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", unit, s)
	}
	if len(num) > 40 { // far past MaxInt64 bytes in any unit; keeps big.Rat cheap on junk input
		return 0, fmt.Errorf("size %q is too large", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("invalid size %q %s", s, sizeHint)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(mult)))
	if !r.IsInt() {
		return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(n.Int64()), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size like 256MiB, got %s", describe(n))
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalText implements encoding.TextUnmarshaler, for flags and JSON.
func (b *ByteSize) UnmarshalText(text []byte) error {
	v, err := ParseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; yaml.Marshal uses it too.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }
