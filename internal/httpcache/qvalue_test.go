package httpcache

import "testing"

func TestParseQValue(t *testing.T) {
	tests := []struct {
		in     string
		want   int
		wantOK bool
	}{
		{"0", 0, true}, {"1", 1000, true}, {"0.5", 500, true}, {"0.05", 50, true},
		{"0.123", 123, true}, {"1.000", 1000, true}, {"0.", 0, true},
		{"", 0, false}, {"2", 0, false}, {"1.5", 0, false}, {".5", 0, false},
		{"0.1234", 0, false}, {"0,5", 0, false}, {"0.5x", 0, false}, {"01", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseQValue(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseQValue(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
