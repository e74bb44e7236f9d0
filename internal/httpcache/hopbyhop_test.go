package httpcache

import (
	"reflect"
	"testing"
)

func TestHopByHop(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"Connection", true},
		{"Proxy-Connection", true},
		{"Keep-Alive", true},
		{"Proxy-Authenticate", true},
		{"Proxy-Authorization", true},
		{"Te", true},
		{"TE", true},
		{"Trailer", true},
		{"Transfer-Encoding", true},
		{"Upgrade", true},
		{"Cache-Control", false},
		{"Authorization", false},
		{"Trailers", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HopByHop(tt.name); got != tt.want {
				t.Errorf("HopByHop(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestRemoveHopByHop(t *testing.T) {
	h := header(
		"Connection", "close, X-Private-Hop",
		"Connection", " x-other ,",
		"X-Private-Hop", "1",
		"X-Other", "2",
		"Keep-Alive", "timeout=5",
		"Transfer-Encoding", "chunked",
		"Te", "trailers",
		"Upgrade", "websocket",
		"Proxy-Authorization", "Basic x",
		"Cache-Control", "max-age=60",
		"Content-Type", "text/plain",
	)
	RemoveHopByHop(h)
	want := header("Cache-Control", "max-age=60", "Content-Type", "text/plain")
	if !reflect.DeepEqual(h, want) {
		t.Errorf("RemoveHopByHop() left %v, want %v", h, want)
	}
	RemoveHopByHop(nil) // must not panic
}
