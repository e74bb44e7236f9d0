package gateway

import (
	"net/http"
	"net/netip"
	"strings"
)

// trustedProxies are the peers whose X-Forwarded-For moat believes: load
// balancers and CDNs in front of it.
type trustedProxies []netip.Prefix

// trusts reports whether addr (an IP, or IP:port as RemoteAddr holds it)
// is a trusted proxy.
func (t trustedProxies) trusts(addr string) bool {
	if len(t) == 0 {
		return false
	}
	ip, ok := parseIP(addr)
	if !ok {
		return false
	}
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func parseIP(addr string) (netip.Addr, bool) {
	addr = strings.TrimSpace(addr)
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap(), true
	}
	ip, err := netip.ParseAddr(addr)
	return ip.Unmap(), err == nil
}

// ClientAddr returns the address of r's client: its TCP peer, or, when the
// peer is a trusted proxy, the nearest address in X-Forwarded-For (read
// from the right) that is not itself a trusted proxy. An address a client
// wrote into X-Forwarded-For is never believed unless every hop after it
// is trusted.
func (h *Handler) ClientAddr(r *http.Request) string {
	peer := r.RemoteAddr
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		peer = ap.Addr().Unmap().String()
	}
	if !h.proxies.trusts(r.RemoteAddr) {
		return peer
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		ip, ok := parseIP(hops[i])
		if !ok {
			return peer // a malformed hop: believe nothing before it
		}
		if !h.proxies.trusts(hops[i]) {
			return ip.String()
		}
		peer = ip.String()
	}
	return peer
}

// forwardedFor lists the addresses of X-Forwarded-For, oldest first.
func forwardedFor(hdr http.Header) []string {
	var out []string
	for _, line := range hdr["X-Forwarded-For"] {
		for _, a := range strings.Split(line, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}
