package compress

import (
	"net/http"
	"slices"
	"testing"
)

func TestAddVary(t *testing.T) {
	tests := []struct {
		name string
		vary []string
		want []string
	}{
		{"absent", nil, []string{"Accept-Encoding"}},
		{"other_fields", []string{"Origin, Accept-Language"}, []string{"Origin, Accept-Language", "Accept-Encoding"}},
		{"present", []string{"Origin, accept-encoding"}, []string{"Origin, accept-encoding"}},
		{"present_on_second_line", []string{"Origin", " Accept-Encoding "}, []string{"Origin", " Accept-Encoding "}},
		{"star", []string{"*"}, []string{"*"}},
		{"prefix_is_not_a_match", []string{"Accept-Encoding-X"}, []string{"Accept-Encoding-X", "Accept-Encoding"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.vary != nil {
				h["Vary"] = slices.Clone(tt.vary)
			}
			AddVary(h)
			if got := h["Vary"]; !slices.Equal(got, tt.want) {
				t.Errorf("Vary after AddVary(%q) = %q, want %q", tt.vary, got, tt.want)
			}
		})
	}
}
