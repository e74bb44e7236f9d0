package payload

import (
	"encoding/json"
	"testing"
)

func TestBody(t *testing.T) {
	for name, k := range Kinds {
		t.Run(name, func(t *testing.T) {
			b := Body(k, "12345")
			if len(b) != k.BodySize {
				t.Errorf("len(Body) = %d, want %d", len(b), k.BodySize)
			}
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("Body is not JSON: %v", err)
			}
			if v["id"] != "12345" {
				t.Errorf("id = %v, want 12345", v["id"])
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		path     string
		kind, id string
		ok       bool
	}{
		{"/api/1k/7", "1k", "7", true},
		{"/api/16k/abc", "16k", "abc", true},
		{"/api/zipf/", "", "", false},
		{"/api/nope/1", "", "", false},
		{"/api/1k/1/2", "", "", false},
		{"/other/1k/1", "", "", false},
	}
	for _, tt := range tests {
		k, id, ok := Split(tt.path)
		if ok != tt.ok || k.Name != tt.kind || id != tt.id {
			t.Errorf("Split(%q) = %q, %q, %v; want %q, %q, %v", tt.path, k.Name, id, ok, tt.kind, tt.id, tt.ok)
		}
	}
}
