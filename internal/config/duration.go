package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that reads from Go duration strings ("30s", "5m", "1h30m",
// "250ms") and also accepts whole days in front ("1d", "7d", "1d12h"). A bare number other than
// 0 is an error: "300" could mean seconds or milliseconds. It writes itself back in Go syntax
// without zero units ("1h30m", not "1h30m0s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.String, dropping trailing zero units: "5m", "1h30m", "0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

const durationHint = "(use e.g. 30s, 5m, 1h)"

// ParseDuration parses a Duration as described on the type.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty duration " + durationHint)
	}
	if allDigits(strings.TrimLeft(t, "+-")) {
		if strings.Trim(t, "+-0") == "" {
			return 0, nil
		}
		n := strings.TrimLeft(t, "+")
		return 0, fmt.Errorf("ambiguous duration %s: add a unit, e.g. %ss or %sms", t, n, n)
	}
	sign, body := "", t
	if body[0] == '-' || body[0] == '+' {
		sign, body = body[:1], body[1:]
	}
	days, rest, ok := strings.Cut(body, "d")
	if !ok || !allDigits(days) {
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q %s", s, durationHint)
		}
		return Duration(d), nil
	}
	const maxDays = math.MaxInt64 / int64(24*time.Hour)
	n, err := strconv.ParseInt(days, 10, 64)
	if err != nil || n > maxDays {
		return 0, fmt.Errorf("duration %q is too long", s)
	}
	total := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		if rest[0] == '-' || rest[0] == '+' {
			return 0, fmt.Errorf("invalid duration %q %s", s, durationHint)
		}
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q %s", s, durationHint)
		}
		if total > math.MaxInt64-r {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += r
	}
	if sign == "-" {
		total = -total
	}
	return Duration(total), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration like 30s, got %s", describe(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalText implements encoding.TextUnmarshaler, for flags and JSON.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalText implements encoding.TextMarshaler; yaml.Marshal uses it too.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
