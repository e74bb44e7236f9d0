package auth

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// trustedSource believes a tier header from configured peers only.
type trustedSource struct {
	header        string
	subjectHeader string // "" when not configured
	from          []netip.Prefix
	tiers         map[string]int
	peer          func(*http.Request) string // nil: RemoteAddr (see WithPeer)
}

func newTrustedSource(p *problems, c TrustedHeaderConfig, tiers map[string]int, used headers) *trustedSource {
	s := &trustedSource{tiers: tiers}
	if c.Header == "" {
		p.addf("auth.trusted_header.header", "required")
	} else {
		s.header = used.claim(p, "auth.trusted_header.header", c.Header)
	}
	if c.SubjectHeader != "" {
		s.subjectHeader = used.claim(p, "auth.trusted_header.subject_header", c.SubjectHeader)
	}
	if len(c.From) == 0 {
		p.addf("auth.trusted_header.from", "required: the addresses of the upstreams that set %s", c.Header)
	}
	for i, f := range c.From {
		prefix, err := parsePeer(f)
		if err != nil {
			p.add("auth.trusted_header.from["+strconv.Itoa(i)+"]", err)
			continue
		}
		s.from = append(s.from, prefix)
	}
	return s
}

// parsePeer parses an IP address or CIDR prefix. IPv4-mapped IPv6 forms are unmapped, as peers
// are, so that "::ffff:10.0.0.1" and "10.0.0.1" are one address.
func parsePeer(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: zones are not supported", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pf, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := pf.Addr(); a.Is4In6() && pf.Bits() >= 96 {
		pf = netip.PrefixFrom(a.Unmap(), pf.Bits()-96)
	}
	return pf.Masked(), nil
}

// trustedPeer reports whether the peer of r is one of s.from: the TCP peer, which net/http sets
// from the connection and a client cannot choose freely, or the client address that s.peer
// derives from it through trusted proxies.
func (s *trustedSource) trustedPeer(r *http.Request) bool {
	var addr netip.Addr
	peer := r.RemoteAddr
	if s.peer != nil {
		peer = s.peer(r)
	}
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		addr = ap.Addr()
	} else if a, err := netip.ParseAddr(peer); err == nil {
		addr = a
	} else {
		return false // a Unix socket peer, or no peer at all
	}
	addr = addr.Unmap().WithZone("")
	for _, p := range s.from {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

func (s *trustedSource) verify(r *http.Request) verdict {
	tiers, hasTier := r.Header[s.header]
	var subjects []string
	hasSubject := false
	if s.subjectHeader != "" {
		subjects, hasSubject = r.Header[s.subjectHeader]
	}
	if !hasTier && !hasSubject {
		return verdict{}
	}
	v := verdict{present: true}
	switch {
	case !s.trustedPeer(r):
		v.reason = ReasonUntrustedPeer
	case len(tiers) > 1 || len(subjects) > 1:
		v.reason = ReasonDuplicate
	case !hasTier:
		v.reason = ReasonMissingTier
	default:
		var ok bool
		if v.tier, ok = s.tiers[tiers[0]]; !ok {
			v.reason = ReasonUnknownTier
		}
		if hasSubject {
			v.subject = subjects[0]
		}
	}
	return v
}
