package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second},
		{in: "5m", want: 5 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "1.5h", want: 90 * time.Minute},
		{in: "1d", want: 24 * time.Hour},
		{in: "7d", want: 7 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "2d30m", want: 48*time.Hour + 30*time.Minute},
		{in: "-1d", want: -24 * time.Hour},
		{in: " 5m ", want: 5 * time.Minute},
		{in: "0", want: 0},
		{in: "00", want: 0},
		{in: "0s", want: 0},
		{in: "300", wantErr: "ambiguous duration 300: add a unit, e.g. 300s or 300ms"},
		{in: "5x", wantErr: `invalid duration "5x" (use e.g. 30s, 5m, 1h)`},
		{in: "", wantErr: "empty duration"},
		{in: "1.5d", wantErr: `invalid duration "1.5d"`},
		{in: "d", wantErr: `invalid duration "d"`},
		{in: "1d-5m", wantErr: `invalid duration "1d-5m"`},
		{in: "1h2d", wantErr: `invalid duration "1h2d"`},
		{in: "999999999d", wantErr: "too long"},
		{in: "106751d23h47m16.854775808s", wantErr: "too long"},
		{in: "9999999999h", wantErr: "invalid duration"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.D() != tt.want {
				t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestDurationString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{24 * time.Hour, "24h"},
		{1500 * time.Millisecond, "1.5s"},
		{-5 * time.Minute, "-5m"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "1024", want: 1024},
		{in: "1024B", want: 1024},
		{in: "512KiB", want: 512 << 10},
		{in: "256MiB", want: 256 << 20},
		{in: "8MiB", want: 8 << 20},
		{in: "1GiB", want: 1 << 30},
		{in: "2TiB", want: 2 << 40},
		{in: "100MB", want: 100e6},
		{in: "64KB", want: 64e3},
		{in: "3GB", want: 3e9},
		{in: "1TB", want: 1e12},
		{in: "256mib", want: 256 << 20},
		{in: "256MIB", want: 256 << 20},
		{in: "64kb", want: 64e3},
		{in: "1.5GiB", want: 3 << 29},
		{in: "0.5KiB", want: 512},
		{in: "256 MiB", want: 256 << 20},
		{in: "+1KiB", want: 1024},
		{in: "8191PiB", wantErr: `unknown size unit "PiB"`},
		{in: "8388607TiB", want: 8388607 << 40},
		{in: "8388608TiB", wantErr: "too large"},
		{in: "9223372036854775807", want: 1<<63 - 1},
		{in: "9223372036854775808", wantErr: "too large"},
		{in: "-1MiB", wantErr: "must not be negative"},
		{in: "1.5", wantErr: "not a whole number of bytes"},
		{in: "0.1KB", want: 100},
		{in: "0.0001KB", wantErr: "not a whole number of bytes"},
		{in: "256M", wantErr: `unknown size unit "M"`},
		{in: "MiB", wantErr: `invalid size "MiB"`},
		{in: "1..2MiB", wantErr: "invalid size"},
		{in: ".5MiB", wantErr: "invalid size"},
		{in: "1e6", wantErr: `unknown size unit "e6"`},
		{in: "", wantErr: "empty size"},
		{in: strings.Repeat("9", 50), wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseByteSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("ParseByteSize(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestByteSizeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		b    ByteSize
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1000, "1KB"},
		{1024, "1KiB"},
		{1536, "1536B"},
		{3 << 29, "1536MiB"},
		{256 * MiB, "256MiB"},
		{100 * MB, "100MB"},
		{2 * TiB, "2TiB"},
		{1<<63 - 1, "9223372036854775807B"},
		{-5, "-5B"},
	}
	for _, tt := range tests {
		if got := tt.b.String(); got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.b), got, tt.want)
		}
	}
}

func TestTextUnmarshalers(t *testing.T) {
	t.Parallel()
	var d Duration
	if err := d.UnmarshalText([]byte("1d")); err != nil || d.D() != 24*time.Hour {
		t.Errorf("Duration.UnmarshalText(1d) = %v, %v", d, err)
	}
	if err := d.UnmarshalText([]byte("5")); err == nil {
		t.Errorf("Duration.UnmarshalText(5) succeeded")
	}
	var b ByteSize
	if err := b.UnmarshalText([]byte("2MiB")); err != nil || b != 2*MiB {
		t.Errorf("ByteSize.UnmarshalText(2MiB) = %v, %v", b, err)
	}
	if err := b.UnmarshalText([]byte("2Mi")); err == nil {
		t.Errorf("ByteSize.UnmarshalText(2Mi) succeeded")
	}
}

func TestClosest(t *testing.T) {
	t.Parallel()
	keys := []string{"memory", "max_object_size", "heuristic_max", "coalesce_timeout"}
	tests := []struct {
		in, want string
	}{
		{"memroy", "memory"},
		{"Memory", "memory"},
		{"memry", "memory"},
		{"max-object-size", "max_object_size"},
		{"max_obj_size", ""},
		{"heuristic", "heuristic_max"},
		{"coalesce_timout", "coalesce_timeout"},
		{"redis", ""},
		{"m", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := closest(tt.in, keys)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("closest(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}
