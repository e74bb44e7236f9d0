package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestTrustedProxiesForwardedFor(t *testing.T) {
	o := newOrigin(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Write([]byte(r.Header.Get("X-Forwarded-For")))
	})
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tc := range []struct {
		name    string
		trusted []netip.Prefix
		want    string
	}{
		{"untrusted_peer_replaces", nil, "127.0.0.1"},
		{"trusted_peer_appends", loopback, "203.0.113.7, 127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newGateway(t, o, nil, func(opt *Options) { opt.TrustedProxies = tc.trusted })
			if got := s.do(t, "GET", "/xff", "X-Forwarded-For", "203.0.113.7"); got.body != tc.want {
				t.Fatalf("origin saw X-Forwarded-For %q, want %q", got.body, tc.want)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	h := &Handler{proxies: trustedProxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}
	for _, tc := range []struct {
		peer, xff, want string
	}{
		{"192.0.2.1:5000", "203.0.113.7", "192.0.2.1"},                // an untrusted peer's header is not believed
		{"10.1.2.3:5000", "203.0.113.7", "203.0.113.7"},               // a trusted load balancer's is
		{"10.1.2.3:5000", "198.51.100.9, 203.0.113.7", "203.0.113.7"}, // the nearest untrusted hop, not what the client wrote first
		{"10.1.2.3:5000", "203.0.113.7, 10.9.9.9", "203.0.113.7"},     // trusted hops are skipped
		{"10.1.2.3:5000", "", "10.1.2.3"},                             // no header: the peer
		{"10.1.2.3:5000", "garbage, 203.0.113.7", "203.0.113.7"},      // a malformed hop further left does not matter
		{"10.1.2.3:5000", "203.0.113.7, garbage", "10.1.2.3"},         // a malformed nearest hop: believe nothing
		{"[::1]:5000", "2001:db8::1", "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := h.ClientAddr(r); got != tc.want {
			t.Errorf("peer %s, X-Forwarded-For %q: ClientAddr %q, want %q", tc.peer, tc.xff, got, tc.want)
		}
	}
}
