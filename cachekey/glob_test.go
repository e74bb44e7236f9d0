package cachekey

import "testing"

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pat, name string
		want      bool
	}{
		{"utm_*", "utm_source", true},
		{"utm_*", "utm_", true},
		{"utm_*", "xutm_a", false},
		{"*", "", true},
		{"*", "a/b", true},
		{"a*b", "a/x/b", true},
		{"a?c", "a/c", true},
		{"a?c", "aéc", true},
		{"*_id", "user_id", true},
		{"*_id", "user_idx", false},
		{"a*b*c", "aXbYbZc", true},
		{"[a-c]x", "bx", true},
		{"[^a-c]x", "bx", false},
		{"[^a-c]x", "dx", true},
		{`\*`, "*", true},
		{`\*`, "a", false},
		{`[\]]`, "]", true},
		{"?", "", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pat, []byte(tt.name)); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pat, tt.name, got, tt.want)
		}
	}
}
